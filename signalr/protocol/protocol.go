package protocol

// A TransferFormat is the kind of data a hub protocol puts on the transport.
type TransferFormat int

// The transfer formats, as negotiate lists them in transferFormats.
const (
	TransferFormatText   TransferFormat = 1
	TransferFormatBinary TransferFormat = 2
)

// String returns "Text" or "Binary", the names negotiate uses.
func (f TransferFormat) String() string {
	switch f {
	case TransferFormatText:
		return "Text"
	case TransferFormatBinary:
		return "Binary"
	}
	return "TransferFormat(" + itoa(int64(f)) + ")"
}

// A HubProtocol encodes and decodes hub messages. Implementations are
// stateless and safe for concurrent use.
type HubProtocol interface {
	// Name returns the name sent in the handshake request, such as "json".
	Name() string

	// Version returns the protocol version sent in the handshake request.
	Version() int

	// TransferFormat returns the transfer format the protocol needs.
	TransferFormat() TransferFormat

	// ParseMessage parses one message, without its framing, into m. It
	// reuses the backing arrays of m, and m aliases data afterwards (see the
	// package documentation). A message of an unknown type is not an error:
	// m.Type then reports false from IsKnown, and the caller ignores it.
	ParseMessage(data []byte, m *Message) error

	// AppendMessage appends m, framed, to dst. It returns dst unchanged and
	// an error when m lacks a field its type requires.
	AppendMessage(dst []byte, m *Message) ([]byte, error)

	// Unmarshal decodes one raw value into the value v points to.
	Unmarshal(data RawValue, v any) error

	// AppendValue appends the encoding of v to dst.
	AppendValue(dst []byte, v any) ([]byte, error)
}
