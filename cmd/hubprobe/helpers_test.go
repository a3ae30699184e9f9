package main

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// A checker reports failed expectations; must stops the test at the first
// failure, check lets it continue.
type checker struct{ fatal bool }

var (
	check = checker{}
	must  = checker{fatal: true}
)

func (c checker) fail(t *testing.T, msgAndArgs []any, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if len(msgAndArgs) > 0 {
		msg += ": " + fmt.Sprintf(fmt.Sprint(msgAndArgs[0]), msgAndArgs[1:]...)
	}
	if c.fatal {
		t.Fatal(msg)
	}
	t.Error(msg)
}

func (c checker) Contains(t *testing.T, s, sub string, msgAndArgs ...any) {
	t.Helper()
	if !strings.Contains(s, sub) {
		c.fail(t, msgAndArgs, "%q does not contain %q", shortenOutput(s), sub)
	}
}

func (c checker) NotContains(t *testing.T, s, sub string, msgAndArgs ...any) {
	t.Helper()
	if strings.Contains(s, sub) {
		c.fail(t, msgAndArgs, "output contains %q", sub)
	}
}

func (c checker) Equal(t *testing.T, want, got any, msgAndArgs ...any) {
	t.Helper()
	if !reflect.DeepEqual(want, got) {
		c.fail(t, msgAndArgs, "got %v, want %v", got, want)
	}
}

func (c checker) NotEqual(t *testing.T, notWant, got any, msgAndArgs ...any) {
	t.Helper()
	if reflect.DeepEqual(notWant, got) {
		c.fail(t, msgAndArgs, "got %v, want anything else", got)
	}
}

// True reports a failure unless ok, and returns ok.
func (c checker) True(t *testing.T, ok bool, msgAndArgs ...any) bool {
	t.Helper()
	if !ok {
		c.fail(t, msgAndArgs, "condition is false")
	}
	return ok
}

func (c checker) NoError(t *testing.T, err error, msgAndArgs ...any) {
	t.Helper()
	if err != nil {
		c.fail(t, msgAndArgs, "unexpected error: %v", err)
	}
}

func (c checker) Len(t *testing.T, list []string, n int, msgAndArgs ...any) {
	t.Helper()
	if len(list) != n {
		c.fail(t, msgAndArgs, "got %d elements %q, want %d", len(list), list, n)
	}
}

// shortenOutput keeps failure messages readable.
func shortenOutput(s string) string {
	if len(s) > 2000 {
		return s[:1000] + " ... " + s[len(s)-1000:]
	}
	return s
}

// A lockedBuffer is a bytes.Buffer that a running command may write while
// the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
