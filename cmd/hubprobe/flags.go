package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"time"

	"github.com/hubwire/hubwire/signalr"
	"github.com/hubwire/hubwire/signalr/protocol"
)

// errHelpShown reports that a command printed its help for -h.
var errHelpShown = errors.New("help shown")

// newFlagSet returns the flag set of cmd. Its usage text goes to
// env.stdout, since -h output is requested output.
func newFlagSet(env *environment, cmd *command, description string) *flag.FlagSet {
	fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		w := env.stdout
		fmt.Fprintf(w, "usage: hubprobe %s\n\n%s\n", cmd.usage, description)
		if hasFlags(fs) {
			fmt.Fprintf(w, "\nFlags:\n")
			fs.SetOutput(w)
			fs.PrintDefaults()
			fs.SetOutput(io.Discard)
		}
	}
	return fs
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// parseFlags parses args with fs. It returns errHelpShown after -h and a
// usage error for an invalid flag. When the command has a --json flag that
// is set, errors are reported as JSON from then on, even if a later flag
// is invalid.
func parseFlags(env *environment, fs *flag.FlagSet, cmd *command, args []string) error {
	// The flag package calls Usage for -h and for every invalid flag. The
	// help is printed only for -h, since report prints the usage line
	// after an error.
	printHelp := fs.Usage
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.Usage = printHelp
	if f := fs.Lookup("json"); f != nil && f.Value.String() == "true" {
		env.jsonErrors = true
	}
	if errors.Is(err, flag.ErrHelp) {
		printHelp()
		return errHelpShown
	}
	if err != nil {
		return usagef(cmd.name, "%v", err)
	}
	return nil
}

// headerList collects repeated -H flags.
type headerList []string

func (h *headerList) String() string { return "" }

func (h *headerList) Set(v string) error {
	name, value, ok := strings.Cut(v, ":")
	name = strings.TrimSpace(name)
	if !ok || name == "" || strings.ContainsAny(name, " \t\r\n") {
		return fmt.Errorf("header %q is not in the form 'Name: value'", redactHeaderArg(v))
	}
	if strings.ContainsAny(value, "\r\n") {
		return fmt.Errorf("value of header %s contains a line break", name)
	}
	*h = append(*h, v)
	return nil
}

// redactHeaderArg returns a -H argument with its value hidden, for error
// messages.
func redactHeaderArg(v string) string {
	if name, _, ok := strings.Cut(v, ":"); ok {
		return name + ": [redacted]"
	}
	return "[redacted]"
}

// connFlags are the connection and output flags every connecting command
// shares.
type connFlags struct {
	headers          headerList
	tokenEnv         string
	protocol         string
	skipNegotiate    bool
	transport        string
	insecure         bool
	handshakeTimeout time.Duration
	keepAlive        time.Duration
	serverTimeout    time.Duration
	maxMessageSize   int

	reconnect         bool
	reconnectDelays   delayList
	statefulReconnect bool

	json    bool
	verbose bool
	record  string
}

func (f *connFlags) register(fs *flag.FlagSet) {
	fs.Var(&f.headers, "H", "add the HTTP `HEADER`, given as 'Name: value', to every request, the WebSocket upgrade included; repeatable")
	fs.StringVar(&f.tokenEnv, "token-env", "", "read a bearer token from the environment variable `NAME` and send it as 'Authorization: Bearer'")
	fs.StringVar(&f.protocol, "protocol", "json", "hub `protocol`: json, or messagepack (alias msgpack), which converts arguments and results to and from JSON as described above")
	fs.StringVar(&f.transport, "transport", "websockets", "`transport`; only websockets is implemented")
	f.registerConnection(fs)
	f.registerReconnect(fs)
	f.registerOutput(fs)
}

// registerConnection adds the flags that tune the connection itself.
func (f *connFlags) registerConnection(fs *flag.FlagSet) {
	fs.BoolVar(&f.skipNegotiate, "skip-negotiate", false, "connect the WebSocket straight to the hub URL without the negotiate request")
	fs.BoolVar(&f.insecure, "insecure", false, "do not verify the server's TLS certificate (prints a warning)")
	fs.DurationVar(&f.handshakeTimeout, "handshake-timeout", signalr.DefaultHandshakeTimeout, "maximum `duration` of the handshake, such as 15s")
	fs.DurationVar(&f.keepAlive, "keep-alive", signalr.DefaultKeepAliveInterval, "`interval` after which an idle client sends a Ping; negative disables pings")
	fs.DurationVar(&f.serverTimeout, "server-timeout", signalr.DefaultServerTimeout, "`duration` without any message from the server after which the connection closes; negative disables the check")
	fs.IntVar(&f.maxMessageSize, "max-message-size", 0, fmt.Sprintf("largest hub message accepted, in `bytes`; 0 means the client default of %d MiB, negative means no limit", protocol.DefaultMaxMessageSize>>20))
}

func (f *connFlags) registerOutput(fs *flag.FlagSet) {
	fs.BoolVar(&f.json, "json", false, "print one JSON object per line instead of text; an error that ends the command is printed as {\"event\":\"error\",...} on stdout, with the same exit status")
	fs.BoolVar(&f.verbose, "v", false, "trace the connection to stderr: HTTP requests, client log records at debug level and every WebSocket message in both directions ('> ws' sent, '< ws' received), escaped as in a capture file and, for a binary message, followed by its MessagePack hub messages as JSON; known secrets are redacted")
	fs.StringVar(&f.record, "record", "", "write the WebSocket messages of the session as a capture to `FILE` when it ends, readable by 'hubprobe replay'; known secrets are redacted")
}

// validate checks the flag values that do not need the network.
func (f *connFlags) validate(cmd *command, env *environment) error {
	if f.hubProtocol() == nil {
		return usagef(cmd.name, "--protocol %q: unknown hub protocol; use json, messagepack or msgpack", f.protocol)
	}
	switch strings.ToLower(f.transport) {
	case "websockets":
	case "serversentevents", "longpolling":
		return usagef(cmd.name, "--transport %s: not implemented; hubprobe supports only websockets", f.transport)
	default:
		return usagef(cmd.name, "--transport %q: unknown transport; use websockets", f.transport)
	}
	if f.handshakeTimeout <= 0 {
		return usagef(cmd.name, "--handshake-timeout %v: must be positive", f.handshakeTimeout)
	}
	if f.statefulReconnect && f.skipNegotiate {
		return usagef(cmd.name, "--stateful-reconnect cannot be combined with --skip-negotiate: the server offers stateful reconnect in its negotiate response, and reopening the WebSocket needs the connection token from it")
	}
	if f.tokenEnv != "" {
		token := env.getenv(f.tokenEnv)
		if token == "" {
			return usagef(cmd.name, "--token-env %s: the environment variable is unset or empty", f.tokenEnv)
		}
		env.secrets.add(token)
	}
	for _, h := range f.headers {
		name, value, _ := strings.Cut(h, ":")
		if isSecretHeader(name) {
			value = strings.TrimSpace(value)
			env.secrets.add(value)
			if _, token, ok := strings.Cut(value, " "); ok {
				env.secrets.add(strings.TrimSpace(token))
			}
		}
	}
	return nil
}

// hubProtocol returns the hub protocol that --protocol names, or nil for
// an unknown name.
func (f *connFlags) hubProtocol() protocol.HubProtocol {
	switch strings.ToLower(f.protocol) {
	case "json":
		return protocol.JSON{}
	case "messagepack", "msgpack":
		return protocol.MessagePack{}
	}
	return nil
}

// checkHubURL reports a URL that the client cannot connect to as a usage
// error, before any connection is tried. Negotiate needs http or https;
// ws and wss work only without it.
func (f *connFlags) checkHubURL(cmd *command, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return usagef(cmd.name, "invalid hub URL %q: give an absolute URL such as http://127.0.0.1:5000/hub", raw)
	}
	switch {
	case u.Scheme == "http" || u.Scheme == "https":
		return nil
	case (u.Scheme == "ws" || u.Scheme == "wss") && f.skipNegotiate:
		return nil
	case u.Scheme == "ws" || u.Scheme == "wss":
		return usagef(cmd.name, "invalid hub URL %q: negotiate needs an http or https URL; use --skip-negotiate to connect a ws or wss URL directly", raw)
	}
	return usagef(cmd.name, "invalid hub URL %q: the scheme must be http or https", raw)
}

// isSecretHeader reports whether the values of the header name are
// credentials, to be redacted wherever they would be printed.
func isSecretHeader(name string) bool {
	switch textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(name)) {
	case "Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie", "X-Api-Key", "Totp":
		return true
	}
	return false
}

// clientConfig builds the client configuration. With -v it adds a tracing
// HTTP client and a debug logger writing to env.stderr.
func (f *connFlags) clientConfig(env *environment, tr *tracer) signalr.Config {
	cfg := signalr.Config{
		Protocol:          f.hubProtocol(),
		HandshakeTimeout:  f.handshakeTimeout,
		KeepAliveInterval: f.keepAlive,
		ServerTimeout:     f.serverTimeout,
		MaxMessageSize:    f.maxMessageSize,
		SkipNegotiation:   f.skipNegotiate,
		Reconnect:         f.retryPolicy(),
		StatefulReconnect: f.statefulReconnect,
	}
	if len(f.headers) > 0 {
		cfg.Header = make(http.Header)
		for _, h := range f.headers {
			name, value, _ := strings.Cut(h, ":")
			cfg.Header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
		}
	}
	if f.tokenEnv != "" {
		name := f.tokenEnv
		cfg.AccessTokenProvider = func(context.Context) (string, error) {
			token := env.getenv(name)
			if token == "" {
				return "", fmt.Errorf("environment variable %s is unset or empty", name)
			}
			return token, nil
		}
	}
	if f.insecure {
		fmt.Fprintf(env.stderr, "hubprobe: warning: --insecure turns off TLS certificate verification; the connection can be intercepted\n")
		cfg.TLSConfig = &tls.Config{InsecureSkipVerify: true}
	}
	if tr != nil {
		cfg.Logger = tr.logger()
		cfg.HTTPClient = &http.Client{Transport: tr.roundTripper(&http.Transport{
			TLSClientConfig: cfg.TLSConfig,
			Proxy:           http.ProxyFromEnvironment,
		})}
	}
	return cfg
}
