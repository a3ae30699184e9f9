package conformance

import (
	"net/http"
	"strconv"
	"strings"
)

// maxNegotiateVersion is the highest negotiate version the server speaks.
// Version 1 added connectionToken.
const maxNegotiateVersion = 1

// serveNegotiate serves POST {hub}/negotiate. Depending on the options and
// the request it creates a connection, redirects, or sends an error, always
// with status 200 and the properties in the order of the .NET server.
func (s *Server) serveNegotiate(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	if !s.authorized(r) {
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}

	query := r.URL.Query()
	version, errText := selectNegotiateVersion(query)
	if errText == "" && s.opts.NegotiateError != nil {
		errText = s.opts.NegotiateError(r)
	}
	if errText != "" {
		writeNegotiateJSON(w, appendNegotiateError(nil, errText))
		return
	}
	if s.opts.Redirect != nil {
		if redirect := s.opts.Redirect(r); redirect != nil {
			writeNegotiateJSON(w, appendNegotiateRedirect(nil, redirect))
			return
		}
	}

	resp := negotiateResponse{
		version:   version,
		stateful:  s.opts.StatefulReconnect && strings.EqualFold(query.Get("useStatefulReconnect"), "true"),
		id:        newConnectionID(),
		withToken: version > 0,
	}
	// Version 0 clients send the connectionId as id=, so it is the token.
	token := resp.id
	if resp.withToken {
		token = newConnectionID()
		resp.token = token
	}
	// NOTE: a negotiated connection whose WebSocket never comes stays in
	// the map until the server is closed.
	s.mu.Lock()
	s.negotiated[token] = &negotiation{id: resp.id, stateful: resp.stateful}
	s.mu.Unlock()
	writeNegotiateJSON(w, resp.append(nil))
}

// selectNegotiateVersion returns the version to respond with, or the error
// text of the .NET server for a version it cannot serve. An absent
// negotiateVersion means 0.
func selectNegotiateVersion(query map[string][]string) (int, string) {
	values, ok := query["negotiateVersion"]
	if !ok || len(values) == 0 {
		return 0, ""
	}
	requested, err := strconv.Atoi(values[0])
	if err != nil {
		return 0, "The client requested an invalid protocol version '" + values[0] + "'"
	}
	if requested < 0 {
		return 0, "The client requested version '" + values[0] + "', but the server does not support this version."
	}
	return min(requested, maxNegotiateVersion), ""
}

// A negotiateResponse is the body of a successful negotiate.
type negotiateResponse struct {
	version   int
	stateful  bool
	id        string
	token     string
	withToken bool
}

// append appends the response in the property order of the .NET server:
// useStatefulReconnect (only when true), negotiateVersion, connectionId,
// connectionToken (version 1 and later), availableTransports.
func (n *negotiateResponse) append(dst []byte) []byte {
	dst = append(dst, '{')
	if n.stateful {
		dst = append(dst, `"useStatefulReconnect":true,`...)
	}
	dst = append(dst, `"negotiateVersion":`...)
	dst = strconv.AppendInt(dst, int64(n.version), 10)
	dst = append(dst, `,"connectionId":`...)
	dst = appendJSONString(dst, n.id)
	if n.withToken {
		dst = append(dst, `,"connectionToken":`...)
		dst = appendJSONString(dst, n.token)
	}
	// Like the .NET server, the list names what the transport can carry,
	// whatever hub protocols the server speaks.
	return append(dst, `,"availableTransports":[{"transport":"WebSockets","transferFormats":["Text","Binary"]}]}`...)
}

// appendNegotiateRedirect appends a redirect response. The .NET writer
// always writes negotiateVersion and availableTransports, so a redirect
// carries version 0 and an empty transport list.
func appendNegotiateRedirect(dst []byte, r *Redirect) []byte {
	dst = append(dst, `{"negotiateVersion":0,"url":`...)
	dst = appendJSONString(dst, r.URL)
	if r.AccessToken != "" {
		dst = append(dst, `,"accessToken":`...)
		dst = appendJSONString(dst, r.AccessToken)
	}
	return append(dst, `,"availableTransports":[]}`...)
}

// appendNegotiateError appends an error response, which has only the error
// property.
func appendNegotiateError(dst []byte, text string) []byte {
	dst = append(dst, `{"error":`...)
	dst = appendJSONString(dst, text)
	return append(dst, '}')
}

func writeNegotiateJSON(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// appendJSONString appends s as a JSON string. Only the quotation mark,
// the backslash and control characters are escaped; other bytes are copied
// as they are.
func appendJSONString(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}
