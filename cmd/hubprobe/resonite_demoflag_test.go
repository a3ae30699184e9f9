package main

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

// A demoFlagRun is the environment of a hubprobe process with --demo: its
// own temporary and configuration directories, and no credentials.
type demoFlagRun struct {
	tmpDir    string
	configDir string
}

func newDemoFlagRun(t *testing.T) *demoFlagRun {
	return &demoFlagRun{tmpDir: t.TempDir(), configDir: t.TempDir()}
}

func (d *demoFlagRun) env() []string {
	return []string{
		"TMPDIR=" + d.tmpDir,
		"XDG_CONFIG_HOME=" + d.configDir,
		"HOME=" + d.configDir,
		"RESONITE_USERNAME=", "RESONITE_EMAIL=", "RESONITE_PASSWORD=", "RESONITE_TOTP=",
	}
}

// run runs hubprobe with args and then requires that it left no files
// behind and printed no demo secret or session token.
func (d *demoFlagRun) run(t *testing.T, args ...string) result {
	t.Helper()
	r := runProbe(t, d.env(), args...)
	for _, dir := range []string{d.tmpDir, d.configDir} {
		entries, err := os.ReadDir(dir)
		check.NoError(t, err)
		check.Equal(t, 0, len(entries), "files left in %s: %v", dir, entries)
	}
	checkNoSecrets(t, r, demoAlicePassword, demoAliceTOTP, demoBobPassword)
	tokenPattern := regexp.MustCompile(`"token":"[^\[]|res U-alice:[^\[]`)
	check.True(t, !tokenPattern.MatchString(r.stdout), "stdout shows a token: %s", r.stdout)
	check.True(t, !tokenPattern.MatchString(r.stderr), "stderr shows a token: %s", r.stderr)
	return r
}

func TestResoniteLoginDemo(t *testing.T) {
	d := newDemoFlagRun(t)
	r := d.run(t, "resonite", "login", "--demo", "-v")
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	check.Contains(t, r.stdout, "logged in as alice (U-alice) at http://127.0.0.1:")
	check.Contains(t, r.stdout, "saved the session to "+d.tmpDir+"/hubprobe-resonite-demo-")
	check.Contains(t, r.stderr, "Totp: [REDACTED]", "the trace shows the TOTP step")

	r = d.run(t, "resonite", "login", "--demo", "--json")
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	check.Equal(t, "", r.stderr)
	var e struct {
		Event, URL, UserID, Username, File string
	}
	must.NoError(t, json.Unmarshal([]byte(r.stdout), &e), "stdout: %s", r.stdout)
	check.Equal(t, "login", e.Event)
	check.Equal(t, "U-alice", e.UserID)
	check.True(t, strings.HasPrefix(e.URL, "http://127.0.0.1:"), "url %q", e.URL)
	_, err := os.Stat(e.File)
	check.True(t, os.IsNotExist(err), "the session file %s still exists", e.File)
}

func TestResoniteCallDemo(t *testing.T) {
	d := newDemoFlagRun(t)
	message := `{"recipientId":"U-bob","content":"hi from the test"}`
	r := d.run(t, "resonite", "call", "--demo", "-v", "SendMessage", message)
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	check.Contains(t, r.stdout, "connected to http://127.0.0.1:")
	check.Contains(t, r.stdout, `server invoked MessageSent({"id":"MSG-`)
	check.Contains(t, r.stdout, "SendMessage completed with no result\n")
	check.Contains(t, r.stderr, "Authorization: [REDACTED]")

	r = d.run(t, "resonite", "call", "--demo", "--json", "--timeout", "10s", "SendMessage", message)
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	must.Len(t, lines, 3, "stdout: %s", r.stdout)
	check.Contains(t, lines[0], `{"event":"connected","url":"http://127.0.0.1:`)
	// The result and the MessageSent event arrive in either order.
	byEvent := map[string]string{}
	for _, line := range lines[1:] {
		var e jsonEvent
		must.NoError(t, json.Unmarshal([]byte(line), &e), "line %q", line)
		byEvent[e.Event] = line
	}
	check.Equal(t, `{"event":"result","target":"SendMessage"}`, byEvent["result"])
	sent := byEvent["invocation"]
	check.Contains(t, sent, `"target":"MessageSent"`)
	check.Contains(t, sent, `"senderId":"U-alice","recipientId":"U-bob"`)
	check.Contains(t, sent, `"content":"hi from the test"`)
}

func TestResoniteListenDemo(t *testing.T) {
	d := newDemoFlagRun(t)
	r := d.run(t, "resonite", "listen", "--demo", "--json", "-v", "--count", "2")
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	must.Len(t, lines, 4, "stdout: %s", r.stdout)
	events := parseEvents(t, lines)
	check.Equal(t, "connected", events[0].Event)
	check.Equal(t, `{"event":"contact","userId":"U-bob","username":"bob","onlineStatus":"Offline"}`, lines[1])
	check.Contains(t, lines[2], `"target":"ReceiveStatusUpdate"`)
	check.Contains(t, lines[2], `"userId":"U-bob"`)
	check.Contains(t, lines[2], `"onlineStatus":"Online"`)
	check.Contains(t, lines[3], `"target":"ReceiveMessage"`)
	check.Contains(t, lines[3], `"senderId":"U-bob","recipientId":"U-alice"`)
	check.Contains(t, r.stderr, "Authorization: [REDACTED]")

	r = d.run(t, "resonite", "listen", "--demo", "--count", "1", "ReceiveMessage")
	must.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	check.Contains(t, r.stdout, "contact bob (U-bob): Offline\n")
	check.Contains(t, r.stdout, `server invoked ReceiveMessage({"id":"MSG-`)
	check.NotContains(t, r.stdout, "ReceiveStatusUpdate", "a target that was not named")
	check.Equal(t, "", r.stderr)
}

func TestResoniteDemoFlagConflicts(t *testing.T) {
	d := newDemoFlagRun(t)
	for _, tc := range []struct {
		args []string
		flag string
	}{
		{[]string{"login", "--demo", "--api", "http://127.0.0.1:1"}, "--api"},
		{[]string{"login", "--demo", "--session-file", "x.json"}, "--session-file"},
		{[]string{"login", "--demo", "--user", "bob"}, "--user"},
		{[]string{"login", "--demo", "--password-stdin"}, "--password-stdin"},
		{[]string{"call", "--demo", "--api", "http://127.0.0.1:1", "InitializeStatus"}, "--api"},
		{[]string{"call", "--demo", "--hub", "http://127.0.0.1:1/hub", "InitializeStatus"}, "--hub"},
		{[]string{"call", "--demo", "--session-file", "x.json", "InitializeStatus"}, "--session-file"},
		{[]string{"listen", "--demo", "--api", "http://127.0.0.1:1"}, "--api"},
		{[]string{"listen", "--demo", "--hub", "http://127.0.0.1:1/hub"}, "--hub"},
		{[]string{"listen", "--demo", "--session-file", "x.json"}, "--session-file"},
	} {
		r := d.run(t, append([]string{"resonite"}, tc.args...)...)
		check.Equal(t, 2, r.code, "exit status of %v", tc.args)
		check.Contains(t, r.stderr, "--demo cannot be combined with "+tc.flag+", because", "stderr of %v", tc.args)
		check.Equal(t, "", r.stdout, "stdout of %v", tc.args)
	}
}

func TestResoniteDemoFlagHelp(t *testing.T) {
	r := runProbe(t, nil, "help", "resonite")
	must.Equal(t, 0, r.code)
	check.Contains(t, r.stdout, "hubprobe resonite listen --demo --count 2")
	for _, command := range []string{"login", "call", "listen"} {
		r := runProbe(t, nil, "help", "resonite", command)
		must.Equal(t, 0, r.code)
		check.Contains(t, r.stdout, "With --demo, "+command+" signs the demo user alice in", "help of %s", command)
		check.Contains(t, r.stdout, "  -demo\n", "flag list of %s", command)
	}
}
