package signalr

import (
	"testing"

	"github.com/hubwire/hubwire/internal/leakcheck"
)

// TestMain fails the run when goroutines outlive the tests: every server,
// connection and timer a test starts must be gone by the end.
func TestMain(m *testing.M) { leakcheck.Main(m) }
