package resonite

import (
	"fmt"
	"time"
)

// A Time is a timestamp of the API. It embeds [time.Time], so its methods
// and fields work directly.
//
// Decoding is lenient because the server is. It accepts RFC 3339 with any
// number of fractional digits and with a zone offset or none. No offset
// means UTC, as in "2025-07-29T18:36:13.264859". It also accepts the .NET
// zero value "0001-01-01T00:00:00", an empty string and null, which all
// give the zero Time. Encoding writes RFC 3339 in UTC with milliseconds, such as
// "2024-01-13T10:00:00.000Z", the form the JavaScript clients send.
type Time struct {
	time.Time
}

// timeLayout is the encoding layout. The decoder accepts more.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// NewTime returns t as a Time.
func NewTime(t time.Time) Time { return Time{t} }

// MarshalJSON writes t in UTC with milliseconds.
func (t Time) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, len(timeLayout)+2)
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, timeLayout)
	return append(b, '"'), nil
}

// UnmarshalJSON decodes a JSON string or null.
func (t *Time) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		t.Time = time.Time{}
		return nil
	}
	if len(data) < 2 || data[0] != '"' {
		return fmt.Errorf("resonite: invalid time: JSON value %.40q is not a string", data)
	}
	s, err := unquote(data)
	if err != nil {
		return fmt.Errorf("resonite: invalid time: %w", err)
	}
	parsed, err := ParseTime(s)
	if err != nil {
		return err
	}
	t.Time = parsed
	return nil
}

// ParseTime parses a timestamp as [Time.UnmarshalJSON] does. An empty string
// gives the zero time.
func ParseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	// time.RFC3339 also matches fractional seconds of any length.
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range [...]string{"2006-01-02T15:04:05", "2006-01-02T15:04:05Z0700", "2006-01-02 15:04:05Z07:00", "2006-01-02 15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("resonite: invalid time %.40q: want RFC 3339, such as 2024-01-13T10:00:00Z", s)
}
