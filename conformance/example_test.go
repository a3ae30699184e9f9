package conformance_test

import (
	"fmt"
	"log"
	"strings"

	"github.com/hubwire/hubwire/conformance"
)

// Start the reference hub on a loopback port, as a test or a demo program
// does, and point a client at HubURL.
func ExampleNewServer() {
	srv := conformance.NewServer(conformance.Options{})
	if _, err := srv.Listen(); err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	fmt.Println(strings.HasSuffix(srv.HubURL(), "/hub"))
	// Output: true
}

// Register a method on a hub of your own.
func ExampleHub_Handle() {
	hub := conformance.NewHub()
	hub.Handle("Greet", func(call *conformance.Call) (any, error) {
		var name string
		if err := call.Bind(&name); err != nil {
			return nil, err
		}
		return "hello " + name, nil
	})
	srv := conformance.NewServer(conformance.Options{Hub: hub})
	defer srv.Close()
}

// Read a capture file and write it back unchanged.
func ExampleReadCapture() {
	file := "# hubwire-capture 1\n# protocol: json\n# scenario: handshake\n# client:\n" +
		`> text {"protocol":"json","version":1}\x1e` + "\n" +
		`< text {}\x1e` + "\n"
	c, err := conformance.ReadCapture(strings.NewReader(file))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d messages, first %q\n", len(c.Messages), c.Messages[0].Data)
	// Output: 2 messages, first "{\"protocol\":\"json\",\"version\":1}\x1e"
}
