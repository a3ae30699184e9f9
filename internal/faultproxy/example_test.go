package faultproxy_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"

	"github.com/hubwire/hubwire/internal/faultproxy"
)

func Example() {
	// A server on loopback that greets each client and closes.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conn.Write([]byte("hello, world\n"))
			conn.Close()
		}
	}()

	p, err := faultproxy.New(ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	// Cut every connection after the server's first 5 bytes.
	p.CutAt(faultproxy.ServerToClient, 5, faultproxy.Graceful)
	fmt.Printf("%q\n", readGreeting(p))

	c, err := p.WaitConn(context.Background(), 1)
	if err != nil {
		log.Fatal(err)
	}
	<-c.Done()
	fmt.Println(c.Err(), c.Forwarded(faultproxy.ServerToClient))

	// Without faults the next client reads the whole greeting.
	p.Heal()
	fmt.Printf("%q\n", readGreeting(p))

	// Output:
	// "hello"
	// faultproxy: connection cut 5
	// "hello, world\n"
}

// readGreeting connects through p and reads until the connection ends.
func readGreeting(p *faultproxy.Proxy) []byte {
	conn, err := net.Dial("tcp", p.Addr())
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	data, err := io.ReadAll(conn)
	if err != nil {
		log.Fatal(err)
	}
	return data
}
