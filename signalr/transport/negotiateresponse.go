package transport

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// A NegotiateResponse is the body of a negotiate response.
type NegotiateResponse struct {
	// NegotiateVersion is the version the server chose. It is 0 when the
	// property is absent or null.
	NegotiateVersion int

	// ConnectionID is the public id of the connection.
	ConnectionID string

	// ConnectionToken is the id that transports send as the "id" query
	// parameter. Version 1 servers send it separately from ConnectionID.
	ConnectionToken string

	// AvailableTransports lists the transports the server offers, in the
	// server's order of preference. It is nil when the property is absent.
	AvailableTransports []AvailableTransport

	// UseStatefulReconnect reports whether the server accepted stateful
	// reconnect.
	UseStatefulReconnect bool

	// URL, when not empty, redirects the client: it must negotiate again
	// at this hub URL.
	URL string

	// AccessToken is the bearer token to use after a redirect.
	AccessToken string

	// Error is the reason the server rejected the connection. The response
	// is a rejection whenever the property is present, even when its text
	// is empty.
	Error string

	hasError bool
}

// An AvailableTransport is one entry of availableTransports.
type AvailableTransport struct {
	// Transport is the transport name, such as "WebSockets".
	Transport string

	// TransferFormats lists the transfer formats the transport carries,
	// such as "Text" and "Binary".
	TransferFormats []string
}

// ParseNegotiateResponse parses a negotiate response body by the rules of
// the ASP.NET Core server's own parser.
//
// Property names are case-sensitive, unknown properties are ignored, and of
// duplicate properties the last one wins. Unless url or error is present,
// connectionId and availableTransports are required, and connectionToken is
// required when negotiateVersion is above 0. Each transport entry needs
// transport and transferFormats. A "ProtocolVersion" property identifies a
// classic ASP.NET SignalR server and fails with [ErrClassicServer].
//
// ParseNegotiateResponse returns the properties as sent: unlike
// [Negotiate], it does not copy ConnectionID into ConnectionToken for
// version 0. Errors are [*ResponseError] values.
func ParseNegotiateResponse(body []byte) (*NegotiateResponse, error) {
	if kind := jsonKind(body); kind != '{' {
		return nil, invalidResponse("", "expected a JSON object, found "+kindName(kind))
	}
	var props map[string]json.RawMessage
	if err := json.Unmarshal(body, &props); err != nil {
		return nil, invalidResponse("", "invalid JSON: "+err.Error())
	}
	if _, ok := props["ProtocolVersion"]; ok {
		return nil, &ResponseError{Property: "ProtocolVersion", Err: ErrClassicServer}
	}

	r := new(NegotiateResponse)
	var err error
	if raw, ok := props["negotiateVersion"]; ok {
		if r.NegotiateVersion, err = parseVersion(raw); err != nil {
			return nil, err
		}
	}
	connectionID, hasConnectionID, err := stringProperty(props, "connectionId", "connectionId")
	if err != nil {
		return nil, err
	}
	connectionToken, hasConnectionToken, err := stringProperty(props, "connectionToken", "connectionToken")
	if err != nil {
		return nil, err
	}
	url, hasURL, err := stringProperty(props, "url", "url")
	if err != nil {
		return nil, err
	}
	if hasURL && url == "" {
		return nil, invalidResponse("url", "the redirect URL is empty")
	}
	accessToken, _, err := stringProperty(props, "accessToken", "accessToken")
	if err != nil {
		return nil, err
	}
	errorText, hasError, err := stringProperty(props, "error", "error")
	if err != nil {
		return nil, err
	}
	if raw, ok := props["useStatefulReconnect"]; ok {
		if err := json.Unmarshal(raw, &r.UseStatefulReconnect); err != nil || jsonKind(raw) == 'n' {
			return nil, invalidResponse("useStatefulReconnect", "expected true or false, found "+kindName(jsonKind(raw)))
		}
	}
	if raw, ok := props["availableTransports"]; ok {
		if r.AvailableTransports, err = parseTransports(raw); err != nil {
			return nil, err
		}
	}

	if !hasURL && !hasError {
		switch {
		case !hasConnectionID:
			return nil, invalidResponse("connectionId", "missing required property")
		case r.NegotiateVersion > 0 && !hasConnectionToken:
			return nil, invalidResponse("connectionToken", "missing required property for negotiateVersion "+
				strconv.Itoa(r.NegotiateVersion))
		case r.AvailableTransports == nil:
			return nil, invalidResponse("availableTransports", "missing required property")
		}
	}

	r.ConnectionID = connectionID
	r.ConnectionToken = connectionToken
	r.URL = url
	r.AccessToken = accessToken
	r.Error = errorText
	r.hasError = hasError
	return r, nil
}

func parseVersion(raw json.RawMessage) (int, error) {
	switch jsonKind(raw) {
	case 'n':
		return 0, nil
	case '0':
		var v int32
		if err := json.Unmarshal(raw, &v); err != nil {
			return 0, invalidResponse("negotiateVersion", "expected a 32-bit integer, found "+string(raw))
		}
		return int(v), nil
	}
	return 0, invalidResponse("negotiateVersion", "expected a number, found "+kindName(jsonKind(raw)))
}

func parseTransports(raw json.RawMessage) ([]AvailableTransport, error) {
	const name = "availableTransports"
	if kind := jsonKind(raw); kind != '[' {
		return nil, invalidResponse(name, "expected an array, found "+kindName(kind))
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(raw, &entries); err != nil {
		return nil, invalidResponse(name, err.Error())
	}

	transports := make([]AvailableTransport, 0, len(entries))
	for i, entry := range entries {
		entryName := name + "[" + strconv.Itoa(i) + "]"
		if kind := jsonKind(entry); kind != '{' {
			return nil, invalidResponse(entryName, "expected an object, found "+kindName(kind))
		}
		var props map[string]json.RawMessage
		if err := json.Unmarshal(entry, &props); err != nil {
			return nil, invalidResponse(entryName, err.Error())
		}

		transport, ok, err := stringProperty(props, "transport", entryName+".transport")
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, invalidResponse(entryName+".transport", "missing required property")
		}
		formats, err := parseFormats(props, entryName+".transferFormats")
		if err != nil {
			return nil, err
		}
		transports = append(transports, AvailableTransport{Transport: transport, TransferFormats: formats})
	}
	return transports, nil
}

func parseFormats(props map[string]json.RawMessage, name string) ([]string, error) {
	raw, ok := props["transferFormats"]
	if !ok {
		return nil, invalidResponse(name, "missing required property")
	}
	if kind := jsonKind(raw); kind != '[' {
		return nil, invalidResponse(name, "expected an array, found "+kindName(kind))
	}
	var values []json.RawMessage
	if err := json.Unmarshal(raw, &values); err != nil {
		return nil, invalidResponse(name, err.Error())
	}
	formats := make([]string, 0, len(values))
	for i, v := range values {
		var s string
		if jsonKind(v) != '"' || json.Unmarshal(v, &s) != nil {
			return nil, invalidResponse(name+"["+strconv.Itoa(i)+"]", "expected a string, found "+kindName(jsonKind(v)))
		}
		formats = append(formats, s)
	}
	return formats, nil
}

// stringProperty returns the string value of props[name] and whether the
// property is present. A present value that is not a string, null
// included, is an error that names the property by path.
func stringProperty(props map[string]json.RawMessage, name, path string) (string, bool, error) {
	raw, ok := props[name]
	if !ok {
		return "", false, nil
	}
	var s string
	if jsonKind(raw) != '"' || json.Unmarshal(raw, &s) != nil {
		return "", true, invalidResponse(path, "expected a string, found "+kindName(jsonKind(raw)))
	}
	return s, true, nil
}

// jsonKind classifies the JSON value in data by its first byte after white
// space: '{', '[', '"', 't' or 'f' for booleans, 'n' for null, '0' for
// numbers, and 0 for an empty input or any other byte.
func jsonKind(data []byte) byte {
	data = bytes.TrimLeft(data, " \t\r\n")
	if len(data) == 0 {
		return 0
	}
	switch c := data[0]; c {
	case '{', '[', '"', 't', 'f', 'n':
		return c
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return '0'
	}
	return 0
}

func kindName(kind byte) string {
	switch kind {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	case '0':
		return "a number"
	}
	return "no JSON value"
}

func invalidResponse(property, detail string) *ResponseError {
	return &ResponseError{Property: property, Detail: detail, Err: ErrInvalidNegotiateResponse}
}
