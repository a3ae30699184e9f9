package resonitetest

import (
	"net/http"

	"github.com/hubwire/hubwire/conformance"
)

// newHub returns the handler that serves the hub at /hub. This version
// serves the empty hub of package conformance and accepts only requests
// whose Authorization header [Server.Authenticate] accepts.
func (s *Server) newHub() hubHandler {
	return conformance.NewServer(conformance.Options{
		Path: "/hub",
		Hub:  conformance.NewHub(),
		Authorize: func(r *http.Request) bool {
			_, ok := s.Authenticate(r.Header.Get("Authorization"))
			return ok
		},
		Logger: s.opts.Logger,
	})
}
