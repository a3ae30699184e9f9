package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hubwire/hubwire/conformance"
	"github.com/hubwire/hubwire/signalr"
)

// startServe starts "hubprobe serve" with args and returns it with the hub
// URL from the first line of its stdout.
func startServe(t *testing.T, args ...string) (*runningProbe, string) {
	t.Helper()
	p := startProbe(t, append([]string{"serve"}, args...)...)
	must.True(t, p.stdout.Scan(), "no output; stderr: %s", p.stderr.String())
	hubURL := p.stdout.Text()
	u, err := url.Parse(hubURL)
	must.NoError(t, err, "first line %q", hubURL)
	must.Equal(t, "http", u.Scheme, "first line %q", hubURL)
	must.Equal(t, "/hub", u.Path, "first line %q", hubURL)
	return p, hubURL
}

// waitStderr waits up to 5 s until the stderr of p contains sub, and
// returns it.
func waitStderr(t *testing.T, p *runningProbe, sub string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		stderr := p.stderr.String()
		if strings.Contains(stderr, sub) || time.Now().After(deadline) {
			must.Contains(t, stderr, sub)
			return stderr
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stopServe sends sig to serve and requires a clean exit, after which
// nothing may listen on the hub's port any more.
func stopServe(t *testing.T, p *runningProbe, hubURL string, sig syscall.Signal) {
	t.Helper()
	must.NoError(t, p.cmd.Process.Signal(sig))
	lines := p.wait(t)
	check.Len(t, lines, 0, "serve prints only the URL on stdout")
	check.Equal(t, 0, p.cmd.ProcessState.ExitCode())
	check.Contains(t, p.stderr.String(), `msg="hub stopped"`)

	u, err := url.Parse(hubURL)
	must.NoError(t, err)
	conn, err := net.DialTimeout("tcp", u.Host, time.Second)
	if err == nil {
		conn.Close()
	}
	check.True(t, err != nil, "%s still accepts connections after serve exited", u.Host)
}

func TestServeCallListenInterrupt(t *testing.T) {
	dir := t.TempDir()
	probe, hubURL := startServe(t, "--push", "Tick", "--push-interval", "50ms", "--record-dir", dir)
	intro := waitStderr(t, probe, "Try, in another terminal:")
	check.Contains(t, intro, "Add(a, b)", "method list")
	check.Contains(t, intro, "hubprobe listen "+hubURL+" Tick", "example command")

	stamp := `"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"`
	for _, proto := range []string{"json", "messagepack"} {
		r := runProbe(t, nil, "call", "--json", "--protocol", proto, hubURL, "Add", "2", "3")
		must.Equal(t, 0, r.code, "%s: stderr: %s", proto, r.stderr)
		check.Contains(t, r.stdout, `{"event":"result","target":"Add","result":5}`, proto)

		r = runProbe(t, nil, "listen", "--json", "--protocol", proto, "--count", "2", hubURL, "Tick")
		must.Equal(t, 0, r.code, "%s: stderr: %s", proto, r.stderr)
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		must.Len(t, lines, 3, proto)
		check.Contains(t, lines[0], `"event":"connected"`, proto)
		for i, line := range lines[1:] {
			want := fmt.Sprintf(`^\{"event":"invocation","target":"Tick","arguments":\[%d,%s\]\}$`, i+1, stamp)
			check.True(t, regexp.MustCompile(want).MatchString(line), "%s: line %q does not match %s", proto, line, want)
		}
	}
	stopServe(t, probe, hubURL, syscall.SIGINT)
	check.Contains(t, probe.stderr.String(), "protocol=messagepack", "connection log")

	// Four sessions: call and listen in each protocol.
	paths, err := filepath.Glob(filepath.Join(dir, "*.capture"))
	must.NoError(t, err)
	must.Len(t, paths, 4)
	for _, path := range paths {
		r := runProbe(t, nil, "replay", "--check", path)
		check.Equal(t, 0, r.code, "%s: %s", path, r.stderr)
	}
}

func TestServeSIGTERMClosesClients(t *testing.T) {
	probe, hubURL := startServe(t)
	intro := waitStderr(t, probe, "Try, in another terminal:")
	check.Contains(t, intro, "restart with --push Tick", "example without --push")
	listen := startListen(t, "--json", hubURL)

	stopServe(t, probe, hubURL, syscall.SIGTERM)
	var lines []string
	for listen.stdout.Scan() {
		lines = append(lines, listen.stdout.Text())
	}
	err := listen.cmd.Wait()
	var exitErr *exec.ExitError
	must.True(t, errors.As(err, &exitErr), "listen ended with %v", err)
	check.Equal(t, 1, exitErr.ExitCode())
	must.Len(t, lines, 1)
	check.Equal(t, `{"event":"error","error":"signalr: server closed the connection","command":"listen"}`, lines[0])
	check.Equal(t, "", listen.stderr.String(), "with --json the error goes to stdout only")
}

func TestServeAddr(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	probe, hubURL := startServe(t, "--addr", fmt.Sprintf("localhost:%d", port))
	check.Equal(t, fmt.Sprintf("http://127.0.0.1:%d/hub", port), hubURL)

	r := runProbe(t, nil, "serve", "--addr", fmt.Sprintf("127.0.0.1:%d", port))
	check.Equal(t, 1, r.code, "a second serve on the same port")
	check.Contains(t, r.stderr, fmt.Sprintf("listening on 127.0.0.1:%d", port))
	stopServe(t, probe, hubURL, syscall.SIGINT)

	r = runProbe(t, nil, "serve", "--record-dir", filepath.Join(t.TempDir(), "missing"))
	check.Equal(t, 1, r.code, "a missing --record-dir")
	check.Contains(t, r.stderr, "--record-dir: ")
	check.Equal(t, "", r.stdout, "no URL without a hub")
}

func TestServeUsageErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--addr", "0.0.0.0:0"}, "the reference hub is a test tool"},
		{[]string{"--addr", ":5000"}, "serve listens only on a loopback address"},
		{[]string{"--addr", "[::]:0"}, "serve listens only on a loopback address"},
		{[]string{"--addr", "192.0.2.1:5000"}, "serve listens only on a loopback address"},
		{[]string{"--addr", "example.com:5000"}, "serve listens only on a loopback address"},
		{[]string{"--addr", "5000"}, "give a loopback host and a port"},
		{[]string{"--addr", "127.0.0.1:70000"}, "the port must be a number from 0 to 65535"},
		{[]string{"--push", ""}, "--push: the TARGET is empty"},
		{[]string{"--push-interval", "2s"}, "--push-interval needs --push TARGET"},
		{[]string{"--push", "Tick", "--push-interval", "0s"}, "--push-interval 0s: must be at least 1ms"},
		{[]string{"extra"}, `unexpected argument "extra"`},
	} {
		r := runProbe(t, nil, append([]string{"serve"}, tt.args...)...)
		check.Equal(t, 2, r.code, "serve %v", tt.args)
		check.Contains(t, r.stderr, tt.want, "serve %v", tt.args)
		check.Equal(t, "", r.stdout, "serve %v", tt.args)
	}
}

func TestServeHelp(t *testing.T) {
	r := runProbe(t, nil, "help", "serve")
	must.Equal(t, 0, r.code)
	for _, flag := range []string{"-addr", "-push", "-push-interval", "-record-dir", "-stateful-reconnect", "-drop-every", "-v"} {
		check.True(t, regexp.MustCompile(`(?m)^  `+flag+`\b`).MatchString(r.stdout), "flag %s is not documented", flag)
	}
	check.Contains(t, r.stdout, "(default 1s)")
	check.Contains(t, r.stdout, "because it is a test tool")
	check.Contains(t, r.stdout, "waits up to 15s for the client to open a")
}

// TestServeMethodsExist checks that the test hub has every method that
// serve lists.
func TestServeMethodsExist(t *testing.T) {
	srv := conformance.NewServer(conformance.Options{})
	_, err := srv.Listen()
	must.NoError(t, err)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := signalr.NewClient(srv.HubURL(), signalr.Config{})
	must.NoError(t, client.Start(ctx))
	defer client.Stop(ctx)

	for _, m := range serveMethods {
		name, _, _ := strings.Cut(m.signature, "(")
		// Without arguments every method fails to bind, or, for Counter,
		// rejects the non-streaming invocation. Void takes none.
		err := client.Invoke(ctx, name, nil)
		if err == nil {
			continue
		}
		var hubErr *signalr.HubError
		must.True(t, errors.As(err, &hubErr), "%s: %v", name, err)
		check.NotContains(t, hubErr.Message, "Unknown hub method", name)
	}
}
