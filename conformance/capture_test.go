package conformance

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/hubwire/hubwire/signalr/protocol"
)

const sampleCapture = `# hubwire-capture 1
# protocol: json
# scenario: echo
# client: raw \\ client\x20
# recorded-by: hubwire
# note:
> text {"protocol":"json","version":1}\x1e
< text {}\x1e
> binary \x00\xff\x7f ~ \\x1e
< text
> text \x20
`

func sampleCaptureValue() *Capture {
	return &Capture{
		Protocol: "json",
		Scenario: "echo",
		Client:   `raw \ client `,
		Fields:   []Field{{Key: "recorded-by", Value: "hubwire"}, {Key: "note", Value: ""}},
		Messages: []Message{
			{Direction: ClientToServer, Format: protocol.TransferFormatText, Data: []byte(`{"protocol":"json","version":1}` + "\x1e")},
			{Direction: ServerToClient, Format: protocol.TransferFormatText, Data: []byte("{}\x1e")},
			{Direction: ClientToServer, Format: protocol.TransferFormatBinary, Data: []byte("\x00\xff\x7f ~ \\x1e")},
			{Direction: ServerToClient, Format: protocol.TransferFormatText, Data: []byte{}},
			{Direction: ClientToServer, Format: protocol.TransferFormatText, Data: []byte(" ")},
		},
	}
}

func TestWriteCaptureSample(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteCapture(&buf, sampleCaptureValue()); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); got != sampleCapture {
		t.Errorf("WriteCapture =\n%s\nwant\n%s", got, sampleCapture)
	}
}

func TestReadCaptureSample(t *testing.T) {
	c, err := ReadCapture(strings.NewReader(sampleCapture))
	if err != nil {
		t.Fatal(err)
	}
	want := sampleCaptureValue()
	if c.Protocol != want.Protocol || c.Scenario != want.Scenario || c.Client != want.Client {
		t.Errorf("header = %q %q %q; want %q %q %q", c.Protocol, c.Scenario, c.Client, want.Protocol, want.Scenario, want.Client)
	}
	if len(c.Fields) != len(want.Fields) {
		t.Fatalf("fields = %v; want %v", c.Fields, want.Fields)
	}
	for i := range want.Fields {
		if c.Fields[i] != want.Fields[i] {
			t.Errorf("field %d = %v; want %v", i, c.Fields[i], want.Fields[i])
		}
	}
	if len(c.Messages) != len(want.Messages) {
		t.Fatalf("%d messages; want %d", len(c.Messages), len(want.Messages))
	}
	for i, m := range want.Messages {
		got := c.Messages[i]
		if got.Direction != m.Direction || got.Format != m.Format || !bytes.Equal(got.Data, m.Data) {
			t.Errorf("message %d = %v %v %q; want %v %v %q", i, got.Direction, got.Format, got.Data, m.Direction, m.Format, m.Data)
		}
	}
}

func TestReadCaptureRejects(t *testing.T) {
	const header = "# hubwire-capture 1\n# protocol: json\n# scenario:\n# client:\n"
	tests := []struct {
		name string
		file string
		line int
	}{
		{"empty file", "", 1},
		{"wrong magic", "# other 1\n", 1},
		{"future version", "# hubwire-capture 2\n", 1},
		{"missing protocol", "# hubwire-capture 1\n", 2},
		{"fixed keys out of order", "# hubwire-capture 1\n# scenario: x\n", 2},
		{"trailing space in header", "# hubwire-capture 1\n# protocol: \n", 2},
		{"no newline at the end", header + "> text x", 5},
		{"carriage return", header + "> text x\r\n", 5},
		{"blank line", header + "\n", 5},
		{"unknown direction", header + "= text x\n", 5},
		{"unknown frame type", header + "> close x\n", 5},
		{"two spaces before an empty payload", header + "> text \n", 5},
		{"escaped printable byte", header + `> text \x41` + "\n", 5},
		{"uppercase hex", header + `> text \x1E` + "\n", 5},
		{"escaped backslash", header + `> text \x5c` + "\n", 5},
		{"short escape", header + `> text \x1` + "\n", 5},
		{"lone backslash", header + `> text a\` + "\n", 5},
		{"unknown escape", header + `> text \n` + "\n", 5},
		{"raw control byte", header + "> text a\tb\n", 5},
		{"raw non-ASCII byte", header + "> text h\xc3\xa9\n", 5},
		{"raw trailing space", header + "> text a \n", 5},
		{"escaped space inside", header + `> text \x20a` + "\n", 5},
		{"header after a message", header + "> text a\n# note: x\n", 6},
		{"invalid field key", header + "# Note: x\n", 5},
		{"fixed key repeated", header + "# client: x\n", 5},
		{"unknown event", header + "= resume\n", 5},
		{"event with a trailing space", header + "= reattach \n", 5},
		{"two reattach lines in a row", header + "> text a\n= reattach\n= reattach\n", 7},
		{"reattach line at the end", header + "> text a\n= reattach\n", 6},
		{"header after a reattach line", header + "= reattach\n# note: x\n", 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadCapture(strings.NewReader(tt.file))
			var captureErr *CaptureError
			if !errors.As(err, &captureErr) {
				t.Fatalf("ReadCapture(%q) error = %v; want a *CaptureError", tt.file, err)
			}
			if captureErr.Line != tt.line {
				t.Errorf("error %q is on line %d; want line %d", err, captureErr.Line, tt.line)
			}
		})
	}
}

func TestReadCaptureReattach(t *testing.T) {
	file := "# hubwire-capture 1\n# protocol: json\n# scenario: drop\n# client:\n" +
		`> text {"type":1,"target":"Mark","arguments":[1]}\x1e` + "\n" +
		"= reattach\n" +
		`< text {"type":9,"sequenceId":1}\x1e` + "\n" +
		`> text {"type":9,"sequenceId":1}\x1e` + "\n"
	c, err := ReadCapture(strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Messages) != 3 {
		t.Fatalf("%d messages; want 3", len(c.Messages))
	}
	for i, want := range []bool{false, true, false} {
		if c.Messages[i].Reattached != want {
			t.Errorf("message %d has Reattached %v; want %v", i, c.Messages[i].Reattached, want)
		}
	}
	again, err := AppendCapture(nil, c)
	if err != nil || string(again) != file {
		t.Errorf("written again as %q, %v; want %q", again, err, file)
	}
}

func TestWriteCaptureRejects(t *testing.T) {
	tests := []struct {
		name    string
		capture Capture
	}{
		{"invalid direction", Capture{Messages: []Message{{Format: protocol.TransferFormatText}}}},
		{"invalid format", Capture{Messages: []Message{{Direction: ClientToServer}}}},
		{"fixed field key", Capture{Fields: []Field{{Key: "protocol"}}}},
		{"empty field key", Capture{Fields: []Field{{Key: ""}}}},
		{"field key with a space", Capture{Fields: []Field{{Key: "a b"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			var captureErr *CaptureError
			if err := WriteCapture(&buf, &tt.capture); !errors.As(err, &captureErr) {
				t.Errorf("WriteCapture error = %v; want a *CaptureError", err)
			}
			if buf.Len() != 0 {
				t.Errorf("WriteCapture wrote %q before failing", buf.String())
			}
		})
	}
}

// captureGenerator draws captures with arbitrary bytes in every payload and
// value.
func captureGenerator() *rapid.Generator[*Capture] {
	// Half of the byte strings come from a small alphabet of the bytes
	// that matter to the escaping, so that sequences such as a backslash
	// followed by "x1e" and trailing spaces are common.
	tricky := rapid.SampledFrom([]byte{'\\', 'x', '1', 'e', '5', 'c', ' ', 0x1e, 0x00, 0x7f, 0xff, '\n', '#', '>'})
	bytesGen := rapid.OneOf(rapid.SliceOfN(rapid.Byte(), 0, 64), rapid.SliceOfN(tricky, 0, 64))
	text := rapid.Custom(func(t *rapid.T) string { return string(bytesGen.Draw(t, "text")) })
	key := rapid.StringMatching(`[a-z0-9-]{1,12}`).Filter(validFieldKey)
	return rapid.Custom(func(t *rapid.T) *Capture {
		c := &Capture{
			Protocol: text.Draw(t, "protocol"),
			Scenario: text.Draw(t, "scenario"),
			Client:   text.Draw(t, "client"),
		}
		for range rapid.IntRange(0, 3).Draw(t, "fields") {
			c.Fields = append(c.Fields, Field{Key: key.Draw(t, "key"), Value: text.Draw(t, "value")})
		}
		for range rapid.IntRange(0, 8).Draw(t, "messages") {
			c.Messages = append(c.Messages, Message{
				Direction: rapid.SampledFrom([]Direction{ClientToServer, ServerToClient}).Draw(t, "direction"),
				Format:    rapid.SampledFrom([]protocol.TransferFormat{protocol.TransferFormatText, protocol.TransferFormatBinary}).Draw(t, "format"),
				Data:      bytesGen.Draw(t, "data"),
				// A reattach line before the first message is legal too.
				Reattached: rapid.IntRange(0, 4).Draw(t, "reattached") == 0,
			})
		}
		return c
	})
}

func TestCaptureRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		want := captureGenerator().Draw(t, "capture")
		file, err := AppendCapture(nil, want)
		if err != nil {
			t.Fatalf("AppendCapture: %v", err)
		}
		got, err := ReadCapture(bytes.NewReader(file))
		if err != nil {
			t.Fatalf("ReadCapture(%q): %v", file, err)
		}
		if got.Protocol != want.Protocol || got.Scenario != want.Scenario || got.Client != want.Client {
			t.Fatalf("header = %q %q %q; want %q %q %q", got.Protocol, got.Scenario, got.Client, want.Protocol, want.Scenario, want.Client)
		}
		if len(got.Fields) != len(want.Fields) {
			t.Fatalf("fields = %q; want %q", got.Fields, want.Fields)
		}
		for i := range want.Fields {
			if got.Fields[i] != want.Fields[i] {
				t.Fatalf("field %d = %q; want %q", i, got.Fields[i], want.Fields[i])
			}
		}
		if len(got.Messages) != len(want.Messages) {
			t.Fatalf("%d messages; want %d", len(got.Messages), len(want.Messages))
		}
		for i, m := range want.Messages {
			g := got.Messages[i]
			if g.Direction != m.Direction || g.Format != m.Format || !bytes.Equal(g.Data, m.Data) {
				t.Fatalf("message %d = %v %v %q; want %v %v %q", i, g.Direction, g.Format, g.Data, m.Direction, m.Format, m.Data)
			}
			if g.Reattached != m.Reattached {
				t.Fatalf("message %d has Reattached %v; want %v", i, g.Reattached, m.Reattached)
			}
		}
		again, err := AppendCapture(nil, got)
		if err != nil || !bytes.Equal(again, file) {
			t.Fatalf("writing the read capture gave %q, %v; want %q", again, err, file)
		}
	})
}

func TestCaptureLinesHaveNoTrailingSpace(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		file, err := AppendCapture(nil, captureGenerator().Draw(t, "capture"))
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(strings.TrimSuffix(string(file), "\n"), "\n") {
			if strings.HasSuffix(line, " ") || strings.ContainsAny(line, "\r\t") {
				t.Fatalf("line %d %q ends in white space or has a control character", i+1, line)
			}
		}
	})
}

func TestCheckedInCapturesRoundTrip(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "testdata", "captures", "*.capture"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		t.Run(filepath.Base(name), func(t *testing.T) {
			file, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			c, err := ReadCapture(bytes.NewReader(file))
			if err != nil {
				t.Fatalf("ReadCapture: %v", err)
			}
			again, err := AppendCapture(nil, c)
			if err != nil || !bytes.Equal(again, file) {
				t.Errorf("writing it again gave a different file (error %v):\n%s", err, again)
			}
		})
	}
}

func TestCaptureFileName(t *testing.T) {
	tests := []struct{ scenario, want string }{
		{"echo", "echo"},
		{"a/b c", "a_b_c"},
		{"..", ""},
		{"", ""},
		{"v1.2_x-y", "v1.2_x-y"},
	}
	for _, tt := range tests {
		if got := captureFileName(tt.scenario); got != tt.want {
			t.Errorf("captureFileName(%q) = %q; want %q", tt.scenario, got, tt.want)
		}
	}
}
