package conformance

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the run when goroutines outlive the tests.
func TestMain(m *testing.M) {
	before := runtime.NumGoroutine()
	code := m.Run()
	if code == 0 {
		if leaked := waitForGoroutines(before, 5*time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines leaked: %d before the tests, %d after\n%s\n", before, runtime.NumGoroutine(), leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// waitForGoroutines waits until at most want goroutines run, and returns the
// stacks of all goroutines when that does not happen within timeout.
func waitForGoroutines(want int, timeout time.Duration) string {
	deadline := time.Now().Add(timeout)
	for {
		if runtime.NumGoroutine() <= want {
			return ""
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			return strings.TrimSpace(string(buf))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
