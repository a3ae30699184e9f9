package protocol

import "bytes"

// RecordSeparator ends every message of a text transfer format, the
// handshake included.
const RecordSeparator = 0x1E

// DefaultMaxMessageSize is the maximum message size a [Framer] uses when its
// MaxMessageSize is zero. The SignalR specification sets no limit on what a
// client receives, so this default is this package's choice. It is large
// enough for typical hub payloads and keeps a hostile peer from making a
// client buffer without bound.
const DefaultMaxMessageSize = 4 << 20

// maxBinaryLength is the largest length a binary frame prefix may carry.
const maxBinaryLength = 1<<31 - 1

// SplitRecord returns the first record of data without its separator and the
// bytes after the separator. It reports false when data holds no complete
// record.
func SplitRecord(data []byte) (record, rest []byte, ok bool) {
	i := bytes.IndexByte(data, RecordSeparator)
	if i < 0 {
		return nil, data, false
	}
	return data[:i], data[i+1:], true
}

// AppendRecord appends payload and the record separator to dst.
func AppendRecord(dst, payload []byte) []byte {
	return append(append(dst, payload...), RecordSeparator)
}

// AppendVarint appends the binary-frame length prefix for n to dst: 7-bit
// groups, least significant first, with the high bit set on every byte but
// the last. n must be between 0 and 2^31-1.
func AppendVarint(dst []byte, n int) []byte {
	u := uint32(n)
	for u >= 0x80 {
		dst = append(dst, byte(u)|0x80)
		u >>= 7
	}
	return append(dst, byte(u))
}

// ConsumeVarint decodes a binary-frame length prefix from the start of data.
// It returns the length and the number of prefix bytes. n is 0 when data
// holds only part of a prefix. The error is [ErrInvalidFraming] for a prefix
// longer than 5 bytes or a length above 2^31-1.
func ConsumeVarint(data []byte) (length, n int, err error) {
	var v uint64
	for i := 0; i < 5; i++ {
		if i >= len(data) {
			return 0, 0, nil
		}
		b := data[i]
		v |= uint64(b&0x7f) << (7 * i)
		if b < 0x80 {
			if v > maxBinaryLength {
				return 0, 0, newError(ErrInvalidFraming, 0, "", "length above 2^31-1")
			}
			return int(v), i + 1, nil
		}
	}
	return 0, 0, newError(ErrInvalidFraming, 0, "", "length prefix longer than 5 bytes")
}

// AppendFrame appends payload to dst with the binary-frame length prefix.
func AppendFrame(dst, payload []byte) []byte {
	return append(AppendVarint(dst, len(payload)), payload...)
}

// A Framer splits a stream of transport data into message payloads: records
// ended by 0x1E for the text transfer format, or length-prefixed frames for
// the binary one. Data may be cut at any byte; the Framer keeps an
// incomplete tail until the rest arrives.
//
// A Framer is not safe for concurrent use. Its zero value splits text with
// [DefaultMaxMessageSize].
type Framer struct {
	// Format selects the framing. Zero means [TransferFormatText].
	Format TransferFormat

	// MaxMessageSize is the largest payload Next returns, in bytes, not
	// counting the separator or prefix. Zero means [DefaultMaxMessageSize];
	// a negative value means no limit. A larger message, or an incomplete
	// one that has already grown larger, makes Next fail with
	// [ErrMessageTooLarge].
	MaxMessageSize int

	rest    []byte // bytes not yet split
	owned   bool   // rest is a suffix of buf, not the caller's memory
	buf     []byte // contains an incomplete tail together with later data
	scanned int    // leading bytes of rest known to contain no record separator
	err     error  // sticky
}

// Feed adds p to the data to split. Until Next returns a nil payload,
// the Framer may keep using p in place, so the caller must not modify p
// before then.
func (f *Framer) Feed(p []byte) error {
	if f.err != nil {
		return f.err
	}
	if len(f.rest) == 0 {
		f.rest, f.owned = p, false
		return nil
	}
	f.keepTail()
	f.buf = append(f.buf, p...)
	f.rest = f.buf
	return nil
}

// Next returns the next complete payload. It returns nil and no error when
// the data fed so far holds no complete message; call Feed again then. The
// payload is valid until the next call to Next or Feed.
func (f *Framer) Next() ([]byte, error) {
	if f.err != nil {
		return nil, f.err
	}
	if len(f.rest) == 0 {
		return nil, nil
	}
	max := f.MaxMessageSize
	if max == 0 {
		max = DefaultMaxMessageSize
	}
	if f.Format == TransferFormatBinary {
		return f.nextBinary(max)
	}
	// Searching only the bytes fed since the last search keeps a record
	// that arrives in many small pieces linear in its size.
	i := bytes.IndexByte(f.rest[f.scanned:], RecordSeparator)
	if i < 0 {
		if max > 0 && len(f.rest) > max {
			return nil, f.fail(newError(ErrMessageTooLarge, 0, "", "incomplete record of "+itoa(int64(len(f.rest)))+" bytes exceeds the maximum of "+itoa(int64(max))))
		}
		f.scanned = len(f.rest)
		f.keepTail()
		return nil, nil
	}
	i += f.scanned
	f.scanned = 0
	if max > 0 && i > max {
		return nil, f.fail(newError(ErrMessageTooLarge, 0, "", "record of "+itoa(int64(i))+" bytes exceeds the maximum of "+itoa(int64(max))))
	}
	record := f.rest[:i:i]
	f.rest = f.rest[i+1:]
	return record, nil
}

func (f *Framer) nextBinary(max int) ([]byte, error) {
	length, n, err := ConsumeVarint(f.rest)
	if err != nil {
		return nil, f.fail(err)
	}
	if n == 0 {
		f.keepTail()
		return nil, nil
	}
	if max > 0 && length > max {
		return nil, f.fail(newError(ErrMessageTooLarge, 0, "", "frame of "+itoa(int64(length))+" bytes exceeds the maximum of "+itoa(int64(max))))
	}
	if len(f.rest)-n < length {
		f.keepTail()
		return nil, nil
	}
	payload := f.rest[n : n+length : n+length]
	f.rest = f.rest[n+length:]
	return payload, nil
}

// keepTail moves the incomplete tail to the front of buf so that the caller
// may reuse the memory it fed. A tail already at the front stays in place,
// so that a message arriving in many small pieces is not copied again for
// each piece.
func (f *Framer) keepTail() {
	switch {
	case !f.owned:
		f.buf = append(f.buf[:0], f.rest...)
	case len(f.rest) < len(f.buf):
		f.buf = f.buf[:copy(f.buf, f.rest)]
	}
	f.rest, f.owned = f.buf, true
}

func (f *Framer) fail(err error) error {
	f.err = err
	f.rest, f.scanned = nil, 0
	return err
}

// Buffered returns the number of bytes fed but not yet returned by Next.
func (f *Framer) Buffered() int { return len(f.rest) }

// Reset discards buffered data and any error, keeping the configuration.
func (f *Framer) Reset() {
	f.rest, f.owned, f.scanned, f.err = nil, false, 0, nil
	f.buf = f.buf[:0]
}
