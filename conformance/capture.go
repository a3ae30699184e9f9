package conformance

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/hubwire/hubwire/signalr/protocol"
)

// CaptureVersion is the version of the capture format that [WriteCapture]
// writes and [ReadCapture] reads.
const CaptureVersion = 1

// A Direction is the peer that sent a captured message.
type Direction uint8

// The directions, written ">" and "<" in a capture file.
const (
	ClientToServer Direction = 1
	ServerToClient Direction = 2
)

// String returns ">" or "<", the form in a capture file.
func (d Direction) String() string {
	switch d {
	case ClientToServer:
		return ">"
	case ServerToClient:
		return "<"
	}
	return "Direction(" + strconv.Itoa(int(d)) + ")"
}

// A Message is one WebSocket data message of a capture, with all its
// fragments joined.
type Message struct {
	Direction Direction

	// Format is the WebSocket frame type of the message:
	// [protocol.TransferFormatText] for a Text frame,
	// [protocol.TransferFormatBinary] for a Binary one.
	Format protocol.TransferFormat

	// Data is the payload of the message, byte for byte.
	Data []byte

	// Reattached is set on the first message after a WebSocket of a
	// stateful reconnect connection was lost and the client reattached a
	// new one: the messages before it passed the earlier WebSocket. A
	// capture file shows it as the line "= reattach" before the message.
	Reattached bool
}

// A Field is a header line of a capture beyond the fixed ones.
type Field struct {
	Key   string
	Value string
}

// A Capture is the WebSocket traffic of one session: the messages both peers
// sent, in the order the server saw them. Control frames (WebSocket Ping,
// Pong and Close) are not part of it, and neither are HTTP requests such as
// negotiate.
//
// # File format
//
// A capture file is UTF-8 text made of lines that end with "\n". It starts
// with a header of lines that begin with "# ":
//
//	# hubwire-capture 1
//	# protocol: json
//	# scenario: echo
//	# client: Microsoft SignalR/8.0 (8.0.7; Unknown OS; NodeJS; 20.11.0)
//
// The first line names the format and its version. The protocol, scenario
// and client lines follow in this order and are always present. An empty
// value ends the line after the colon. Further header
// lines of the form "# key: value" may follow, where key consists of
// lowercase ASCII letters, digits and '-'.
//
// Then comes one line per WebSocket message, in order:
//
//	> text {"protocol":"json","version":1}\x1e
//	< text {}\x1e
//	> text {"type":1,"invocationId":"0","target":"Add","arguments":[1,2]}\x1e
//	< text {"type":3,"invocationId":"0","result":3}\x1e
//
// A line holds the direction ('>' from client to server, '<' from server to
// client), a space, the frame type (text or binary), and, unless the message
// is empty, a space and the escaped payload.
//
// A session with stateful reconnect can span several WebSockets. The line
// "= reattach" is between the last message of a WebSocket that ended
// without a Close message and the first message after a new WebSocket
// reattached to the same connection, which is usually the server's
// Sequence:
//
//	< text {"type":1,"target":"Tick","arguments":[3]}\x1e
//	= reattach
//	< text {"type":9,"sequenceId":3}\x1e
//	< text {"type":1,"target":"Tick","arguments":[3]}\x1e
//	> text {"type":9,"sequenceId":2}\x1e
//
// Payloads and header values are escaped so that every byte is visible and
// each line is one message. Printable ASCII (0x20 to 0x7e) stands for
// itself, a backslash is written "\\", and every other byte is written
// "\xNN" with two lowercase hex digits, such as "\x1e" for the record
// separator. A space that ends the text is written "\x20" so that no line
// ends in white space. The escaping is canonical: [ReadCapture] rejects
// any other spelling, such as "\x41" for 'A', so reading a file and writing
// it again gives the same bytes.
type Capture struct {
	Protocol string // hub protocol of the handshake, "json" or "messagepack"
	Scenario string // name of the scenario the session ran
	Client   string // name and version of the client
	Fields   []Field
	Messages []Message
}

// captureMagic starts the first line of a capture file.
const captureMagic = "# hubwire-capture "

// reattachLine marks a reattached WebSocket in a capture file.
const reattachLine = "= reattach"

// A CaptureError reports an invalid capture file or Capture value.
type CaptureError struct {
	Line   int // 1-based line of the file, or 0 for an error of WriteCapture
	Detail string
}

func (e *CaptureError) Error() string {
	if e.Line > 0 {
		return "conformance: capture line " + strconv.Itoa(e.Line) + ": " + e.Detail
	}
	return "conformance: capture: " + e.Detail
}

// WriteCapture writes c to w in the capture file format described on
// [Capture]. It fails with a *[CaptureError] when a field key is invalid or
// repeats a fixed key, or a message has an unknown direction or format.
func WriteCapture(w io.Writer, c *Capture) error {
	data, err := AppendCapture(nil, c)
	if err != nil {
		return err
	}
	_, err = w.Write(data)
	return err
}

// AppendCapture appends c in the capture file format to dst, as
// [WriteCapture] writes it.
func AppendCapture(dst []byte, c *Capture) ([]byte, error) {
	dst = append(dst, captureMagic...)
	dst = strconv.AppendInt(dst, CaptureVersion, 10)
	dst = append(dst, '\n')
	dst = appendHeaderLine(dst, "protocol", c.Protocol)
	dst = appendHeaderLine(dst, "scenario", c.Scenario)
	dst = appendHeaderLine(dst, "client", c.Client)
	for _, f := range c.Fields {
		if !validFieldKey(f.Key) {
			return nil, &CaptureError{Detail: "invalid header field key " + strconv.Quote(f.Key) + ": use lowercase letters, digits and '-', and none of protocol, scenario, client"}
		}
		dst = appendHeaderLine(dst, f.Key, f.Value)
	}
	for i, m := range c.Messages {
		if m.Direction != ClientToServer && m.Direction != ServerToClient {
			return nil, &CaptureError{Detail: "message " + strconv.Itoa(i) + " has the invalid direction " + m.Direction.String()}
		}
		if m.Reattached {
			dst = append(dst, reattachLine...)
			dst = append(dst, '\n')
		}
		dst = append(dst, m.Direction.String()...)
		switch m.Format {
		case protocol.TransferFormatText:
			dst = append(dst, " text"...)
		case protocol.TransferFormatBinary:
			dst = append(dst, " binary"...)
		default:
			return nil, &CaptureError{Detail: "message " + strconv.Itoa(i) + " has the invalid format " + m.Format.String()}
		}
		if len(m.Data) > 0 {
			dst = append(dst, ' ')
			dst = AppendEscaped(dst, m.Data)
		}
		dst = append(dst, '\n')
	}
	return dst, nil
}

func appendHeaderLine(dst []byte, key, value string) []byte {
	dst = append(dst, "# "...)
	dst = append(dst, key...)
	dst = append(dst, ':')
	if value != "" {
		dst = append(dst, ' ')
		dst = AppendEscaped(dst, []byte(value))
	}
	return append(dst, '\n')
}

// validFieldKey reports whether key may name an extra header field.
func validFieldKey(key string) bool {
	switch key {
	case "", "protocol", "scenario", "client":
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

const hexDigits = "0123456789abcdef"

// AppendEscaped appends data in the canonical escaping of capture files:
// printable ASCII is copied, a backslash is written `\\`, a space at the
// end `\x20`, and every other byte `\xNN`. Tools that print captured
// messages use it so that their output reads like a capture file.
func AppendEscaped(dst, data []byte) []byte {
	for i, b := range data {
		switch {
		case b == '\\':
			dst = append(dst, '\\', '\\')
		case b == ' ' && i == len(data)-1:
			dst = append(dst, `\x20`...)
		case b >= 0x20 && b <= 0x7e:
			dst = append(dst, b)
		default:
			dst = append(dst, '\\', 'x', hexDigits[b>>4], hexDigits[b&0xf])
		}
	}
	return dst
}

// unescape decodes text in the canonical escaping and rejects any other
// spelling. The returned detail is empty on success.
func unescape(dst, text []byte) ([]byte, string) {
	for i := 0; i < len(text); i++ {
		b := text[i]
		if b < 0x20 || b > 0x7e {
			return nil, "byte 0x" + string([]byte{hexDigits[b>>4], hexDigits[b&0xf]}) + " at column " + strconv.Itoa(i+1) + " must be escaped as \\x" + string([]byte{hexDigits[b>>4], hexDigits[b&0xf]})
		}
		if b == ' ' && i == len(text)-1 {
			return nil, "a space that ends the text must be escaped as \\x20"
		}
		if b != '\\' {
			dst = append(dst, b)
			continue
		}
		if i+1 < len(text) && text[i+1] == '\\' {
			dst = append(dst, '\\')
			i++
			continue
		}
		if i+3 >= len(text) || text[i+1] != 'x' {
			return nil, "invalid escape at column " + strconv.Itoa(i+1) + ": use \\\\ or \\xNN"
		}
		hi, lo := unhex(text[i+2]), unhex(text[i+3])
		if hi < 0 || lo < 0 {
			return nil, "invalid escape at column " + strconv.Itoa(i+1) + ": \\x needs two lowercase hex digits"
		}
		v := byte(hi<<4 | lo)
		last := i+3 == len(text)-1
		if v >= 0x20 && v <= 0x7e && v != '\\' && !(v == ' ' && last) {
			return nil, "escape \\x" + string(text[i+2:i+4]) + " at column " + strconv.Itoa(i+1) + " stands for a printable character, which must be written as it is"
		}
		if v == '\\' {
			return nil, "escape \\x5c at column " + strconv.Itoa(i+1) + " must be written \\\\"
		}
		dst = append(dst, v)
		i += 3
	}
	return dst, ""
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	}
	return -1
}

// ReadCaptureFile reads the capture file at path. Errors name the path.
func ReadCaptureFile(path string) (*Capture, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c, err := ReadCapture(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ReadCapture reads a capture file in the format described on [Capture]. It
// fails with a *[CaptureError] that names the line of the first deviation
// from the canonical form, so that a file it accepts is written back
// unchanged by [WriteCapture].
func ReadCapture(r io.Reader) (*Capture, error) {
	br := bufio.NewReader(r)
	c := &Capture{}
	lineNumber := 0
	var lineErr error
	nextLine := func() ([]byte, bool) {
		line, err := br.ReadBytes('\n')
		if len(line) == 0 && err == io.EOF {
			return nil, false
		}
		lineNumber++
		if err == io.EOF {
			lineErr = &CaptureError{Line: lineNumber, Detail: "the last line does not end with a newline"}
			return nil, false
		}
		if err != nil {
			lineErr = err
			return nil, false
		}
		return line[:len(line)-1], true
	}
	fail := func(detail string) (*Capture, error) {
		return nil, &CaptureError{Line: lineNumber, Detail: detail}
	}

	line, ok := nextLine()
	if !ok {
		if lineErr != nil {
			return nil, lineErr
		}
		return nil, &CaptureError{Line: 1, Detail: "empty file: missing the line " + strconv.Quote(captureMagic+"1")}
	}
	if !bytes.HasPrefix(line, []byte(captureMagic)) {
		return fail("the first line must be " + strconv.Quote(captureMagic+strconv.Itoa(CaptureVersion)))
	}
	if string(line[len(captureMagic):]) != strconv.Itoa(CaptureVersion) {
		return fail("unsupported capture format version " + strconv.Quote(string(line[len(captureMagic):])) + ": this reader supports version " + strconv.Itoa(CaptureVersion))
	}

	fixed := []struct {
		key   string
		value *string
	}{
		{"protocol", &c.Protocol},
		{"scenario", &c.Scenario},
		{"client", &c.Client},
	}
	for _, f := range fixed {
		line, ok = nextLine()
		if !ok {
			if lineErr != nil {
				return nil, lineErr
			}
			lineNumber++
			return fail("missing the header line \"# " + f.key + ":\"")
		}
		key, value, detail := parseHeaderLine(line)
		if detail != "" {
			return fail(detail)
		}
		if key != f.key {
			return fail("expected the header line \"# " + f.key + ":\", found key " + strconv.Quote(key))
		}
		*f.value = value
	}

	reattached := false // a reattach line waits for its message
	for {
		line, ok = nextLine()
		if !ok {
			if lineErr == nil && reattached {
				return fail("the file ends after a reattach line: a message must follow it")
			}
			return c, lineErr
		}
		if len(line) > 0 && line[0] == '=' {
			switch {
			case string(line) != reattachLine:
				return fail("unknown event line " + strconv.Quote(string(line)) + ": the only one is " + strconv.Quote(reattachLine))
			case reattached:
				return fail("two reattach lines in a row: a message must come between them")
			}
			reattached = true
			continue
		}
		if len(line) > 0 && line[0] == '#' {
			if len(c.Messages) > 0 || reattached {
				return fail("header lines must come before the first message")
			}
			key, value, detail := parseHeaderLine(line)
			if detail != "" {
				return fail(detail)
			}
			if !validFieldKey(key) {
				return fail("invalid header field key " + strconv.Quote(key) + ": use lowercase letters, digits and '-', and none of protocol, scenario, client")
			}
			c.Fields = append(c.Fields, Field{Key: key, Value: value})
			continue
		}
		m, detail := parseMessageLine(line)
		if detail != "" {
			return fail(detail)
		}
		m.Reattached, reattached = reattached, false
		c.Messages = append(c.Messages, m)
	}
}

// parseHeaderLine parses "# key: value" or "# key:".
func parseHeaderLine(line []byte) (key, value, detail string) {
	if !bytes.HasPrefix(line, []byte("# ")) {
		return "", "", "a header line must start with \"# \""
	}
	rest := line[2:]
	colon := bytes.IndexByte(rest, ':')
	if colon < 0 {
		return "", "", "a header line must have the form \"# key: value\""
	}
	key = string(rest[:colon])
	rest = rest[colon+1:]
	if len(rest) == 0 {
		return key, "", ""
	}
	if rest[0] != ' ' || len(rest) == 1 {
		return "", "", "the colon of a header line must be followed by one space and the value, or end the line"
	}
	decoded, detail := unescape(nil, rest[1:])
	if detail != "" {
		return "", "", detail
	}
	return key, string(decoded), ""
}

// parseMessageLine parses "> text payload" and its variants.
func parseMessageLine(line []byte) (Message, string) {
	var m Message
	switch {
	case bytes.HasPrefix(line, []byte("> ")):
		m.Direction = ClientToServer
	case bytes.HasPrefix(line, []byte("< ")):
		m.Direction = ServerToClient
	default:
		return m, "a message line must start with \"> \" or \"< \""
	}
	rest := line[2:]
	switch {
	case bytes.HasPrefix(rest, []byte("text")):
		m.Format = protocol.TransferFormatText
		rest = rest[len("text"):]
	case bytes.HasPrefix(rest, []byte("binary")):
		m.Format = protocol.TransferFormatBinary
		rest = rest[len("binary"):]
	default:
		return m, "the frame type must be text or binary"
	}
	if len(rest) == 0 {
		m.Data = []byte{}
		return m, ""
	}
	if rest[0] != ' ' || len(rest) == 1 {
		return m, "the frame type must be followed by one space and the payload, or end the line"
	}
	data, detail := unescape(nil, rest[1:])
	if detail != "" {
		return m, detail
	}
	m.Data = data
	return m, ""
}
