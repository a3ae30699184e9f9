package signalr_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/hubwire/hubwire/conformance"
	"github.com/hubwire/hubwire/signalr"
)

// startHub starts the reference hub on 127.0.0.1 for the examples.
func startHub() (*conformance.Server, string) {
	srv := conformance.NewServer(conformance.Options{})
	if _, err := srv.Listen(); err != nil {
		log.Fatal(err)
	}
	return srv, srv.HubURL()
}

func ExampleClient_Start() {
	srv, hubURL := startHub()
	defer srv.Close()
	ctx := context.Background()

	client := signalr.NewClient(hubURL, signalr.Config{})
	if err := client.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer client.Stop(ctx)

	var sum int
	if err := client.Invoke(ctx, "Add", &sum, 2, 3); err != nil {
		log.Fatal(err)
	}
	fmt.Println("2 + 3 =", sum)
	// Output: 2 + 3 = 5
}

func ExampleClient_Invoke() {
	srv, hubURL := startHub()
	defer srv.Close()
	ctx := context.Background()
	client := signalr.NewClient(hubURL, signalr.Config{})
	if err := client.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer client.Stop(ctx)

	var echoed string
	if err := client.Invoke(ctx, "Echo", &echoed, "hello"); err != nil {
		log.Fatal(err)
	}
	fmt.Println(echoed)

	// A hub error comes back as a *HubError that carries the hub's text.
	err := client.Invoke(ctx, "Fail", nil, "no such user")
	fmt.Println(err)
	// Output:
	// hello
	// signalr: hub error: no such user
}

func ExampleClient_On() {
	srv, hubURL := startHub()
	defer srv.Close()
	ctx := context.Background()
	client := signalr.NewClient(hubURL, signalr.Config{})

	// The reference hub's CallMe makes the server invoke the caller. With
	// withResult set, the server waits for the handler's result.
	client.On("Greet", func(ctx context.Context, inv *signalr.Invocation) (any, error) {
		var name string
		if err := inv.Decode(&name); err != nil {
			return nil, err
		}
		return "hello, " + name, nil
	})
	if err := client.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer client.Stop(ctx)

	var answer string
	if err := client.Invoke(ctx, "CallMe", &answer, "Greet", "gopher", true); err != nil {
		log.Fatal(err)
	}
	fmt.Println(answer)
	// Output: hello, gopher
}

func ExampleClient_Stream() {
	srv, hubURL := startHub()
	defer srv.Close()
	ctx := context.Background()
	client := signalr.NewClient(hubURL, signalr.Config{})
	if err := client.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer client.Stop(ctx)

	stream, err := client.Stream(ctx, "Counter", 3, 0)
	if err != nil {
		log.Fatal(err)
	}
	for stream.Next() {
		var n int
		if err := stream.Decode(&n); err != nil {
			log.Fatal(err)
		}
		fmt.Println(n)
	}
	if err := stream.Err(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// 0
	// 1
	// 2
}

func ExampleClient_Stop() {
	srv, hubURL := startHub()
	defer srv.Close()
	client := signalr.NewClient(hubURL, signalr.Config{})
	if err := client.Start(context.Background()); err != nil {
		log.Fatal(err)
	}

	// Stop sends a Close message and waits for the client's goroutines.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := client.Stop(ctx); err != nil {
		log.Fatal(err)
	}
	<-client.Done()
	fmt.Println("stopped, error:", client.Err())
	// Output: stopped, error: <nil>
}

func ExampleConfig_reconnect() {
	srv, hubURL := startHub()
	defer srv.Close()
	ctx := context.Background()

	reconnected := make(chan string, 1)
	client := signalr.NewClient(hubURL, signalr.Config{
		Reconnect: signalr.DefaultRetryPolicy(),
		OnReconnecting: func(err error) {
			fmt.Println("reconnecting:", err)
		},
		OnReconnected: func(connectionID string) { reconnected <- connectionID },
	})
	if err := client.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer client.Stop(ctx)

	// The reference hub's CloseMe makes the server close the connection,
	// here with allowReconnect set, as a server does before a restart.
	client.Send(ctx, "CloseMe", "restarting", true)
	<-reconnected

	var sum int
	if err := client.Invoke(ctx, "Add", &sum, 2, 3); err != nil {
		log.Fatal(err)
	}
	fmt.Println("after reconnecting: 2 + 3 =", sum)
	// Output:
	// reconnecting: signalr: server closed the connection with error "restarting" (reconnect allowed)
	// after reconnecting: 2 + 3 = 5
}
