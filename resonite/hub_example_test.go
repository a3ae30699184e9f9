package resonite_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/hubwire/hubwire/resonite"
	"github.com/hubwire/hubwire/resonite/resonitetest"
)

// An echo bot replies to every text message with the same text. The example
// runs it against the fake service of package resonitetest; against the
// real service, use resonite.DefaultBaseURL and resonite.DefaultHubURL.
func Example_echoBot() {
	srv := resonitetest.NewServer(resonitetest.Options{Users: []resonitetest.User{
		{ID: "U-echo", Username: "echo", Password: "bot-password"},
		{ID: "U-alice", Username: "alice", Password: "alice-password"},
	}})
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// Sign the bot in and connect it to the hub.
	api := &resonite.API{BaseURL: srv.URL}
	session, err := api.Login(ctx, resonite.LoginRequest{Username: "echo", Password: "bot-password", UID: resonite.NewUID()})
	if err != nil {
		log.Fatal(err)
	}
	bot, err := resonite.NewHub(srv.HubURL(), session, resonite.HubOptions{})
	if err != nil {
		log.Fatal(err)
	}
	bot.OnReceiveMessage(func(ctx context.Context, msg resonite.Message) {
		if msg.MessageType != resonite.MessageText {
			return
		}
		if _, err := bot.SendText(ctx, msg.SenderID, msg.Content); err != nil {
			log.Printf("replying to %s: %v", msg.SenderID, err)
		}
	})
	if err := bot.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer bot.Stop(ctx) // broadcasts Offline first
	if err := bot.SetOnlineStatus(ctx, resonite.StatusOnline); err != nil {
		log.Fatal(err)
	}

	// A user writes to the bot.
	aliceSession, err := api.Login(ctx, resonite.LoginRequest{Username: "alice", Password: "alice-password", UID: resonite.NewUID()})
	if err != nil {
		log.Fatal(err)
	}
	alice, err := resonite.NewHub(srv.HubURL(), aliceSession, resonite.HubOptions{})
	if err != nil {
		log.Fatal(err)
	}
	replies := make(chan resonite.Message, 1)
	alice.OnReceiveMessage(func(_ context.Context, msg resonite.Message) { replies <- msg })
	if err := alice.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer alice.Stop(ctx)
	if _, err := alice.SendText(ctx, bot.UserID(), "hello, bot"); err != nil {
		log.Fatal(err)
	}

	select {
	case reply := <-replies:
		fmt.Printf("%s replied: %s\n", reply.SenderID, reply.Content)
	case <-ctx.Done():
		fmt.Println("no reply")
	}
	// Output: U-echo replied: hello, bot
}
