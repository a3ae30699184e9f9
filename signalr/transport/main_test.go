package transport_test

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the run when goroutines outlive the tests: every server,
// connection and timer a test starts must be gone by the end.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := leakedGoroutines(5 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines left after the tests:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// leakedGoroutines waits up to timeout for all goroutines but the calling
// one to end, and returns the stacks of those that remain.
func leakedGoroutines(timeout time.Duration) string {
	deadline := time.Now().Add(timeout)
	for {
		buf := make([]byte, 1<<20)
		stacks := strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n")
		// The first stack is the calling goroutine.
		if len(stacks) <= 1 || time.Now().After(deadline) {
			return strings.Join(stacks[1:], "\n\n")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
