// Package leakcheck fails a test binary when goroutines outlive its tests.
package leakcheck

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// wait is how long goroutines get to end after the tests passed, since
// closed connections and stopped timers end their goroutines a little later.
const wait = 5 * time.Second

// Main runs the tests of m and exits. It fails the run, printing the stacks,
// when any goroutine besides the calling one is still running wait after
// the tests passed. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := leakedGoroutines(); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines left after the tests:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// leakedGoroutines returns the stacks of the goroutines other than the
// calling one that are still running after wait, or "" when there are none.
func leakedGoroutines() string {
	deadline := time.Now().Add(wait)
	for {
		buf := make([]byte, 1<<20)
		stacks := strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n")
		// The first stack is the calling goroutine.
		if len(stacks) <= 1 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(stacks[1:], "\n\n")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
