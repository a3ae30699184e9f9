package resonite_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/hubwire/hubwire/resonite"
	"github.com/hubwire/hubwire/resonite/resonitetest"
)

// ExampleAPI_Login signs in to a fake of the API, retries with a TOTP code
// when the account needs one, extends the session and signs out.
func ExampleAPI_Login() {
	srv := resonitetest.NewServer(resonitetest.Options{
		Users: []resonitetest.User{{ID: "U-bob", Username: "Bob", Password: "s3cret", TOTP: "123456"}},
	})
	defer srv.Close()

	// A real program uses the zero BaseURL, which is api.resonite.com, and
	// stores the UID so that every login sends the same one.
	api := &resonite.API{BaseURL: srv.URL}
	ctx := context.Background()
	req := resonite.LoginRequest{Username: "Bob", Password: "s3cret", UID: resonite.NewUID()}

	session, err := api.Login(ctx, req)
	if errors.Is(err, resonite.ErrTOTPRequired) {
		fmt.Println("a TOTP code is required")
		req.TOTP = "123456" // the code from the user's authenticator app
		session, err = api.Login(ctx, req)
	}
	if err != nil {
		fmt.Println("login failed:", err)
		return
	}
	fmt.Println("logged in as", session.UserID)
	fmt.Println("token lifetime:", session.Expire.Sub(session.Created))

	if err := api.Extend(ctx, session); err != nil {
		fmt.Println("extend failed:", err)
	}
	if err := api.Logout(ctx, session); err != nil {
		fmt.Println("logout failed:", err)
	}
	err = api.Extend(ctx, session)
	fmt.Println("after logout:", errors.Is(err, resonite.ErrSessionExpired))
	// Output:
	// a TOTP code is required
	// logged in as U-bob
	// token lifetime: 24h0m0s
	// after logout: true
}
