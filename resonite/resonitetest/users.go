package resonitetest

// A User is an account of the fake server.
type User struct {
	// ID is the user ID, such as "U-alice".
	ID       string
	Username string
	Email    string
	Password string

	// TOTP, when set, is the code the user's login must send in the TOTP
	// header, as if two-factor authentication were on.
	TOTP string
}
