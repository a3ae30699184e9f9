// Command hubprobe probes a SignalR hub from the command line: it invokes hub
// methods, reads streams, prints the invocations a server sends, and prints
// or checks recorded sessions.
//
// Usage:
//
//	hubprobe demo [flags]
//	hubprobe call [flags] URL METHOD [ARG...]
//	hubprobe listen [flags] URL [TARGET...]
//	hubprobe replay [--check] FILE
//	hubprobe serve [flags]
//	hubprobe resonite login|call|listen|logout|demo [flags] [arguments]
//	hubprobe help [COMMAND]
//	hubprobe resonite help [COMMAND]
//
// Flags come before the positional arguments. Run "hubprobe help" for the
// flags of every command.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // the command failed; exitStatusHelp lists the causes
	exitUsage   = 2 // the command line is invalid
)

// A usageError reports an invalid command line. The process exits with
// exitUsage and prints the usage line of the command.
type usageError struct {
	command string
	msg     string
}

func (e *usageError) Error() string { return e.msg }

func usagef(command, format string, args ...any) error {
	return &usageError{command: command, msg: fmt.Sprintf(format, args...)}
}

// A command is one subcommand of hubprobe.
type command struct {
	name  string
	usage string // the usage line after "hubprobe "
	short string
	run   func(env *environment, args []string) error
}

var commands []*command

// resoniteCommands are the subcommands of "hubprobe resonite".
var resoniteCommands []*command

func init() {
	commands = []*command{
		{"demo", "demo [flags]", "start the reference hub in-process and show a guided tour", runDemo},
		{"call", "call [flags] URL METHOD [ARG...]", "invoke a hub method and print its result or stream items", runCall},
		{"listen", "listen [flags] URL [TARGET...]", "print the invocations the server sends to the client, or to the named client methods", runListen},
		{"replay", "replay [--check] FILE", "print a recorded session, or check every frame with --check", runReplay},
		{"serve", "serve [flags]", "run the reference hub on a loopback address until Ctrl-C, to try the other commands against", runServe},
		{"resonite", "resonite COMMAND [flags] [arguments]", "sign in to the Resonite cloud and call or listen to its hub; 'hubprobe resonite demo' tries it offline", runResonite},
	}
	resoniteCommands = []*command{
		{"resonite login", "resonite login [flags]", "sign in and store the session token in the session file", runResoniteLogin},
		{"resonite call", "resonite call [flags] METHOD [ARG...]", "invoke a method of the Resonite hub as the signed-in user", runResoniteCall},
		{"resonite listen", "resonite listen [flags] [TARGET...]", "print the events the Resonite hub sends to the signed-in user", runResoniteListen},
		{"resonite logout", "resonite logout [flags]", "revoke the session token and delete the session file", runResoniteLogout},
		{"resonite demo", "resonite demo [flags]", "run login, chat and presence against a fake of the Resonite cloud on 127.0.0.1", runResoniteDemo},
	}
}

// lookupCommand returns the command name, such as "call" or
// "resonite login", or nil when there is none.
func lookupCommand(name string) *command {
	for _, list := range [][]*command{commands, resoniteCommands} {
		for _, c := range list {
			if c.name == name {
				return c
			}
		}
	}
	return nil
}

// hasSubcommands reports whether cmd has commands of its own, as resonite
// has login, call and the others.
func hasSubcommands(cmd *command) bool {
	for _, sub := range resoniteCommands {
		if strings.HasPrefix(sub.name, cmd.name+" ") {
			return true
		}
	}
	return false
}

// An environment is the set of streams and variables a command uses. Writes to
// stdout and stderr go through a redactor, so that no secret the command
// line names reaches the output.
type environment struct {
	stdout  io.Writer
	stderr  io.Writer
	getenv  func(string) string
	stdin   io.Reader
	isTTY   bool
	secrets *redactor

	// terminal reads what the user types at a prompt. It is nil when
	// stdin is not a terminal.
	terminal *terminal

	// jsonErrors makes report print the error that ends the command as a
	// JSON event on stdout. parseFlags sets it for --json.
	jsonErrors bool
}

func main() {
	secrets := newRedactor()
	env := &environment{
		stdout:   secrets.wrap(os.Stdout),
		stderr:   secrets.wrap(os.Stderr),
		getenv:   os.Getenv,
		stdin:    os.Stdin,
		isTTY:    isTerminal(os.Stdout),
		secrets:  secrets,
		terminal: openTerminal(os.Stdin, secrets.wrap(os.Stderr)),
	}
	os.Exit(run(env, os.Args[1:]))
}

// run runs the command line args and returns the exit code.
func run(env *environment, args []string) int {
	if len(args) == 0 {
		printShortUsage(env.stderr)
		return exitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		return runHelp(env, rest)
	}
	cmd := lookupCommand(name)
	if cmd == nil || strings.Contains(name, " ") {
		fmt.Fprintf(env.stderr, "hubprobe: unknown command %q\n", name)
		printShortUsage(env.stderr)
		return exitUsage
	}
	if len(rest) > 0 && rest[0] == "help" && hasSubcommands(cmd) {
		// "hubprobe resonite help login" is "hubprobe help resonite login".
		return runHelp(env, append([]string{name}, rest[1:]...))
	}
	if len(rest) > 0 {
		if sub := lookupCommand(name + " " + rest[0]); sub != nil {
			cmd, rest = sub, rest[1:]
		}
	}
	err := cmd.run(env, rest)
	return report(env, cmd, err)
}

// report prints err and returns the exit code it maps to. With --json the
// error goes to stdout as an event of its own, and only the usage line of
// a usage error goes to stderr.
func report(env *environment, cmd *command, err error) int {
	if err == nil {
		return exitOK
	}
	if errors.Is(err, errHelpShown) {
		return exitOK
	}
	var ue *usageError
	if errors.As(err, &ue) {
		if env.jsonErrors {
			newPrinter(env, true).print(event{Event: "error", Command: cmd.name, Error: ue.msg, Usage: "hubprobe " + cmd.usage})
		} else {
			fmt.Fprintf(env.stderr, "hubprobe %s: %s\n", cmd.name, ue.msg)
		}
		fmt.Fprintf(env.stderr, "usage: hubprobe %s\n", cmd.usage)
		if hasSubcommands(cmd) {
			fmt.Fprintf(env.stderr, "Run 'hubprobe help %s' for its commands.\n", cmd.name)
		} else {
			fmt.Fprintf(env.stderr, "Run 'hubprobe %s -h' for its flags.\n", cmd.name)
		}
		return exitUsage
	}
	if env.jsonErrors {
		e := event{Event: "error", Command: cmd.name, Error: describeError(err)}
		var invalid *invalidMessageError
		if errors.As(err, &invalid) {
			e.Line, e.Direction, e.HubMessage = invalid.line, directionName(invalid.direction), invalid.record
		}
		newPrinter(env, true).print(e)
		return exitFailure
	}
	fmt.Fprintf(env.stderr, "hubprobe %s: %s\n", cmd.name, describeError(err))
	return exitFailure
}

// exitStatusHelp documents the exit codes in 'hubprobe help'.
const exitStatusHelp = `Exit status:
  0  success
  1  the command failed: the connection could not be made or ended early,
     automatic reconnect gave up, the hub returned an error, a --timeout
     expired before the command finished, a file could not be read or
     written, the server sent a value hubprobe could not decode, replay
     --check found an invalid message, serve could not listen, or a
     resonite command failed to sign in or found no valid session
  2  the command line is invalid

With --json, the error that ends a command is printed to stdout as one JSON
object, {"event":"error","command":"call","error":"..."}, with the same
exit status; a usage error adds a "usage" member and still prints the usage
line to stderr.
`

func printUsage(w io.Writer) {
	fmt.Fprintf(w, "usage: hubprobe COMMAND [flags] [arguments]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.short)
	}
	fmt.Fprintf(w, "  %-8s %s\n", "help", "print this text, or the flags of a command with 'hubprobe help COMMAND'")
	fmt.Fprintf(w, "\nFlags come before the positional arguments.\n")
}

// printShortUsage prints the usage after an invalid command line.
func printShortUsage(w io.Writer) {
	printUsage(w)
	fmt.Fprintf(w, "Run 'hubprobe help' for the exit status and the flags of every command.\n")
}

// runHelp prints the usage of hubprobe, or the flags of one command.
func runHelp(env *environment, args []string) int {
	if len(args) == 0 {
		printUsage(env.stdout)
		fmt.Fprintf(env.stdout, "\n%s", exitStatusHelp)
		for _, c := range commands {
			fmt.Fprintf(env.stdout, "\n")
			c.run(&environment{stdout: env.stdout, stderr: env.stdout, getenv: env.getenv, secrets: env.secrets}, []string{"-h"})
		}
		return exitOK
	}
	name := strings.Join(args, " ")
	cmd := lookupCommand(name)
	if cmd == nil {
		fmt.Fprintf(env.stderr, "hubprobe help: unknown command %q\n", name)
		printShortUsage(env.stderr)
		return exitUsage
	}
	cmd.run(&environment{stdout: env.stdout, stderr: env.stdout, getenv: env.getenv, secrets: env.secrets}, []string{"-h"})
	return exitOK
}
