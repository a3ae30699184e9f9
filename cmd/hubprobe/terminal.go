package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
)

// A terminal reads what the user types at prompts, from the terminal that
// stdin is connected to. Prompts go to stderr, so that stdout keeps only
// the command's output.
//
// Turning off the echo for secrets runs stty(1) on stdin, which exists on
// Linux, macOS and the BSDs. Where stty is missing or fails, as on Windows,
// stdin does not count as a terminal, and the commands need their
// credentials in environment variables.
type terminal struct {
	file    *os.File
	prompts io.Writer

	once sync.Once
	ok   bool
	in   *bufio.Reader
}

// openTerminal returns the terminal for stdin. It does not run stty until
// a prompt is needed.
func openTerminal(stdin *os.File, prompts io.Writer) *terminal {
	return &terminal{file: stdin, prompts: prompts}
}

// available reports whether stdin is a terminal that accepts stty. A nil
// terminal is not available.
func (t *terminal) available() bool {
	if t == nil {
		return false
	}
	t.once.Do(func() {
		// /dev/null is a character device too, so the mode bits alone
		// would take it for a terminal; stty fails on it.
		if !isTerminal(t.file) {
			return
		}
		if _, err := t.stty("-g"); err != nil {
			return
		}
		t.ok = true
		t.in = bufio.NewReader(t.file)
	})
	return t.ok
}

// stty runs stty with args on the terminal and returns its output without
// the trailing newline.
func (t *terminal) stty(args ...string) (string, error) {
	cmd := exec.Command("stty", args...)
	cmd.Stdin = t.file
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("stty %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// errNoInput reports that stdin ended before the user typed a line.
var errNoInput = errors.New("no input: stdin ended")

// readLine prints prompt and returns the line the user typed, without the
// line ending. The terminal must be available.
func (t *terminal) readLine(prompt string) (string, error) {
	fmt.Fprint(t.prompts, prompt)
	return readLine(t.in)
}

// readSecret prints prompt and returns the line the user typed, with the
// echo turned off so that the input does not show. It restores the
// terminal's settings afterwards, and also when Ctrl-C or SIGTERM ends
// the process during the prompt. The terminal must be available.
func (t *terminal) readSecret(prompt string) (string, error) {
	state, err := t.stty("-g")
	if err != nil {
		return "", err
	}
	restore := func() { t.stty(state) }

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		select {
		case <-signals:
			restore()
			fmt.Fprintln(t.prompts)
			os.Exit(130) // the shell's status for a process that SIGINT ended
		case <-done:
		}
	}()
	defer func() {
		signal.Stop(signals)
		close(done)
		<-exited
	}()

	if _, err := t.stty("-echo"); err != nil {
		return "", err
	}
	fmt.Fprint(t.prompts, prompt)
	line, err := readLine(t.in)
	restore()
	fmt.Fprintln(t.prompts) // the user's Enter was not echoed
	return line, err
}

// readLine reads one line from r and returns it without the line ending.
// A last line without a line ending counts; an empty stdin gives
// errNoInput.
func readLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err == io.EOF && line != "" {
		err = nil
	}
	if err == io.EOF {
		return "", errNoInput
	}
	if err != nil {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}
