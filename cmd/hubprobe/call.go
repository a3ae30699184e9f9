package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"
	"unicode"

	"github.com/hubwire/hubwire/resonite"
	"github.com/hubwire/hubwire/signalr"
	"github.com/hubwire/hubwire/signalr/protocol"
)

const callDescription = `Connects to the hub at URL, invokes METHOD and prints its result. URL is
an http or https URL, or a ws or wss URL together with --skip-negotiate.

Each ARG is one argument as a JSON value: 42, true, null, '"text"' (a string
needs its JSON quotes), '{"a":1}'. Use -d to give all arguments as one JSON
array instead. A hub error exits with status 1 and prints the hub's message.

` + messagePackHelp + "\n\n" + reconnectHelp

// messagePackHelp describes the value conversions of --protocol messagepack.
const messagePackHelp = `With --protocol messagepack (or msgpack), hubprobe converts each JSON value
it reads to MessagePack. Object members keep their order. A number without
a fraction or exponent that fits an int64 or a uint64 becomes an integer in
its shortest encoding; every other number becomes a float64, so an integer
beyond those ranges loses precision. A number beyond the float64 range is
an error.

MessagePack values are printed as JSON: binary data as a base64 string, a
timestamp as an RFC 3339 string in UTC, another extension type as
{"extType":N,"data":"<base64>"}, and a map key that is not a string as its
JSON text in a string. Map entries keep their order. A float always shows a
decimal point or an exponent, so the float 2.0 prints as 2.0 and the
integer 2 as 2. NaN and the infinities print as the strings "NaN",
"Infinity" and "-Infinity". With -v, each binary WebSocket message is
printed escaped, followed by each of its hub messages as a JSON array.`

// runCall implements "hubprobe call".
func runCall(env *environment, args []string) error {
	cmd := lookupCommand("call")
	fs := newFlagSet(env, cmd, callDescription)
	var cf connFlags
	cf.register(fs)
	data := fs.String("d", "", "the arguments as one JSON array: inline, `@FILE` to read a file, or @- to read stdin")
	send := fs.Bool("send", false, "send the invocation without an invocation ID and do not wait for a result")
	stream := fs.Bool("stream", false, "call a streaming method and print each item as it arrives; Ctrl-C cancels the stream")
	timeout := fs.Duration("timeout", 0, "maximum `duration` of the whole call, connecting included; 0 means no limit")
	if err := parseFlags(env, fs, cmd, args); err != nil {
		return err
	}
	if fs.NArg() < 2 {
		return usagef(cmd.name, "missing URL or METHOD")
	}
	if *send && *stream {
		return usagef(cmd.name, "--send and --stream cannot be combined")
	}
	if err := cf.validate(cmd, env); err != nil {
		return err
	}
	url, method := fs.Arg(0), fs.Arg(1)
	if err := rejectFlagLike(cmd, []string{method}); err != nil {
		return err
	}
	if err := cf.checkHubURL(cmd, url); err != nil {
		return err
	}
	callArgs, err := parseArguments(cmd, env, *data, fs.Args()[2:])
	if err != nil {
		return err
	}
	values := valueCodec{proto: cf.hubProtocol()}
	for i, a := range callArgs {
		text := a.(protocol.RawValue)
		if callArgs[i], err = values.fromJSON(text); err != nil {
			return usagef(cmd.name, "argument %d (%s): %v", i+1, shorten(string(text)), err)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}

	p := newPrinter(env, cf.json)
	s := newSession(env, &cf, url)
	if err := s.start(ctx, p, url); err != nil {
		return s.end(env, &cf, cmd.name, err)
	}
	switch {
	case *send:
		err = sendCall(ctx, s, p, method, callArgs)
	case *stream:
		err = streamCall(ctx, s, p, method, callArgs)
	default:
		err = invokeCall(ctx, s, p, method, callArgs)
	}
	return s.end(env, &cf, cmd.name, err)
}

// sendCall sends an invocation of method without an invocation ID.
func sendCall(ctx context.Context, s *session, p *printer, method string, args []any) error {
	if err := s.client.Send(ctx, method, args...); err != nil {
		return err
	}
	p.print(event{Event: "sent", Target: method})
	return nil
}

// invokeCall invokes method and prints its result.
func invokeCall(ctx context.Context, s *session, p *printer, method string, args []any) error {
	var result protocol.RawValue
	err := s.client.Invoke(ctx, method, &result, args...)
	if err != nil {
		return err
	}
	e := event{Event: "result", Target: method}
	if e.Result, err = s.values.toJSON(result); err != nil {
		return fmt.Errorf("the result of %s: %w", method, err)
	}
	p.print(e)
	return nil
}

// streamCall calls a streaming method and prints its items until the
// stream ends or ctx is canceled. Canceling makes the client send
// CancelInvocation.
func streamCall(ctx context.Context, s *session, p *printer, method string, args []any) error {
	st, err := s.client.Stream(ctx, method, args...)
	if err != nil {
		return err
	}
	defer st.Close()
	n := 0
	for st.Next() {
		item, err := s.values.toJSON(st.Item())
		if err != nil {
			return fmt.Errorf("item %d of %s: %w", n, method, err)
		}
		idx := n
		p.print(event{Event: "item", Target: method, Index: &idx, Item: item})
		n++
	}
	err = st.Err()
	switch {
	case err == nil:
		p.print(event{Event: "end", Target: method, Message: fmt.Sprintf("stream %s completed after %d items", method, n)})
		return nil
	case errors.Is(err, context.Canceled):
		p.print(event{Event: "end", Target: method, Message: fmt.Sprintf("stream %s canceled after %d items; sent CancelInvocation", method, n)})
		return nil
	}
	return err
}

// invalidArgument returns the usage error for an argument that is not
// valid JSON, with a hint for the two usual causes: a flag placed after the
// positional arguments, and a string without JSON quotes.
func invalidArgument(cmd *command, i int, arg string, err error) error {
	msg := fmt.Sprintf("argument %d (%s) is not valid JSON: %v", i+1, shorten(arg), err)
	switch {
	case len(arg) > 1 && arg[0] == '-' && (arg[1] == '-' || unicode.IsLetter(rune(arg[1]))):
		msg += "; it looks like a flag, and flags must come before " + firstPositional(cmd)
	case arg != "" && !strings.ContainsRune("{[\"-0123456789tfn", rune(arg[0])):
		msg += "; a string needs JSON quotes, as in '\"text\"'"
	}
	return usagef(cmd.name, "%s", msg)
}

// firstPositional returns the name of the first positional argument in
// the usage line of cmd, such as URL for call and TARGET for resonite
// listen.
func firstPositional(cmd *command) string {
	_, rest, _ := strings.Cut(cmd.usage, "[flags] ")
	name, _, _ := strings.Cut(rest, " ")
	name = strings.TrimSuffix(strings.Trim(name, "[]"), "...")
	if name == "" {
		return "the arguments"
	}
	return name
}

// rejectFlagLike returns a usage error when one of names, positional
// arguments that are names and never JSON values, starts with "-". The
// flag package stops at the first positional argument, so a flag after it
// would otherwise be taken as a name.
func rejectFlagLike(cmd *command, names []string) error {
	for _, name := range names {
		if strings.HasPrefix(name, "-") {
			return usagef(cmd.name, "argument %q looks like a flag: flags must come before %s", name, firstPositional(cmd))
		}
	}
	return nil
}

// parseArguments returns the hub method arguments given as ARGs or -d.
// Each is a protocol.RawValue, which the client sends unchanged.
func parseArguments(cmd *command, env *environment, data string, args []string) ([]any, error) {
	if data != "" && len(args) > 0 {
		return nil, usagef(cmd.name, "give the arguments either as ARGs or with -d, not both")
	}
	if data == "" {
		out := make([]any, len(args))
		for i, a := range args {
			v, err := compactJSON([]byte(a))
			if err != nil {
				return nil, invalidArgument(cmd, i, a, err)
			}
			out[i] = v
		}
		return out, nil
	}

	var raw []byte
	var err error
	switch {
	case data == "@-":
		raw, err = io.ReadAll(io.LimitReader(env.stdin, 64<<20))
	case strings.HasPrefix(data, "@"):
		raw, err = os.ReadFile(data[1:])
	default:
		raw = []byte(data)
	}
	if err != nil {
		return nil, fmt.Errorf("reading -d %s: %w", data, err)
	}
	list, err := parseArgumentArray(raw)
	if err != nil {
		return nil, usagef(cmd.name, "%s: %v", dataLabel(data), err)
	}
	out := make([]any, len(list))
	for i, v := range list {
		c, err := compactJSON(v)
		if err != nil {
			return nil, usagef(cmd.name, "%s: argument %d (%s): %v", dataLabel(data), i+1, shorten(string(v)), err)
		}
		out[i] = c
	}
	return out, nil
}

// dataLabel names the -d flag in messages: with its file name for @FILE,
// alone for inline JSON, which the shell has already shown.
func dataLabel(data string) string {
	if strings.HasPrefix(data, "@") {
		return "-d " + data
	}
	return "-d"
}

// parseArgumentArray parses the value of -d, a JSON array with one element
// per argument. A valid JSON value that is not an array gets an error that
// shows how to pass it as the only argument.
func parseArgumentArray(raw []byte) ([]json.RawMessage, error) {
	var value json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&value); err != nil {
		if err == io.EOF {
			return nil, errors.New("no JSON value; give a JSON array of arguments, such as '[2, \"text\"]'")
		}
		return nil, fmt.Errorf("not valid JSON: %v", err)
	}
	if dec.More() {
		return nil, errors.New("data after the JSON array; give all arguments in one array")
	}
	if value[0] != '[' {
		msg := fmt.Sprintf("expected a JSON array with one element per argument, such as '[2, \"text\", {\"a\":1}]', but got %s", jsonKind(value[0]))
		if len(value) <= 40 {
			msg += fmt.Sprintf("; to pass it as the only argument, put it in brackets: '[%s]'", value)
		} else {
			msg += "; to pass it as the only argument, put it in brackets"
		}
		return nil, errors.New(msg)
	}
	var list []json.RawMessage
	if err := json.Unmarshal(value, &list); err != nil {
		return nil, fmt.Errorf("not a JSON array of arguments: %v", err)
	}
	return list, nil
}

// jsonKind names the kind of JSON value that starts with the byte c.
func jsonKind(c byte) string {
	switch c {
	case '{':
		return "a JSON object"
	case '"':
		return "a JSON string"
	case 't', 'f':
		return "a JSON boolean"
	case 'n':
		return "JSON null"
	case '[':
		return "a JSON array"
	}
	return "a JSON number"
}

func compactJSON(v []byte) (protocol.RawValue, error) {
	var b bytes.Buffer
	if err := json.Compact(&b, v); err != nil {
		return nil, err
	}
	if b.Len() == 0 {
		return nil, errors.New("empty value")
	}
	return protocol.RawValue(b.Bytes()), nil
}

func shorten(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return fmt.Sprintf("%q", s)
}

// A session is a client with the log of its WebSocket messages.
type session struct {
	client    *signalr.Client
	hub       *resonite.Hub // set for the resonite commands, which start and stop the client through it
	values    valueCodec
	frames    *frameLog // nil without -v and --record
	reconnect *reconnectEvents
	stateful  bool // --stateful-reconnect
	retry     bool // automatic reconnect is on
	started   bool
}

// newSession returns an unstarted client for url with the flags of cf.
// Handlers must be registered before start, so that they see the first
// invocation.
func newSession(env *environment, cf *connFlags, url string) *session {
	s, cfg := prepareSession(env, cf)
	s.client = signalr.NewClient(url, cfg)
	return s
}

// prepareSession returns a session without its client, and the client
// configuration for the flags of cf.
func prepareSession(env *environment, cf *connFlags) (*session, signalr.Config) {
	var tr *tracer
	if cf.verbose {
		tr = &tracer{w: env.stderr}
	}
	cfg := cf.clientConfig(env, tr)
	s := &session{
		values:    valueCodec{proto: cfg.Protocol},
		reconnect: newReconnectEvents(env, cf.json),
		stateful:  cf.statefulReconnect,
		retry:     cfg.Reconnect != nil,
	}
	s.reconnect.hook(&cfg)
	if cf.verbose || cf.record != "" {
		s.frames = &frameLog{secrets: env.secrets, trace: tr, record: cf.record != "", stateful: cf.statefulReconnect}
		cfg.Trace = s.frames.observe
	}
	return s, cfg
}

// start connects the client and prints the connection.
func (s *session) start(ctx context.Context, p *printer, url string) error {
	var err error
	if s.hub != nil {
		err = s.hub.Start(ctx)
	} else {
		err = s.client.Start(ctx)
	}
	if err != nil {
		return err
	}
	s.started = true
	p.print(event{Event: "connected", URL: redactQuery(url), ConnectionID: s.client.ConnectionID()})
	if s.stateful {
		s.reconnect.warnStatefulDeclined(s.client, s.retry)
	}
	return nil
}

// done returns a channel that is closed when the client has ended for
// good.
func (s *session) done() <-chan struct{} { return s.client.Done() }

// err returns why the client ended. For a resonite hub, an error caused
// by a rejected token matches resonite.ErrSessionExpired.
func (s *session) err() error {
	if s.hub != nil {
		return s.hub.Err()
	}
	return s.client.Err()
}

// end stops the client, waits until its reconnect events are printed,
// and writes the --record file of the session, which ran the command
// scenario. It returns err, or the error of writing the file when err is
// nil.
func (s *session) end(env *environment, cf *connFlags, scenario string, err error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if s.hub != nil {
		s.hub.Stop(ctx)
	} else {
		s.client.Stop(ctx)
	}
	if s.started {
		select {
		case <-s.reconnect.closed:
		case <-ctx.Done():
		}
	}
	if recErr := writeRecording(env, cf, s, scenario); recErr != nil && err == nil {
		err = recErr
	}
	return err
}
