package main

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/hubwire/hubwire/resonite"
)

// Names of the files that the resonite commands keep, by default in
// os.UserConfigDir()/hubwire.
const (
	sessionFileName = "resonite-session.json"

	// deviceFileName is the file with the device identifiers, in the
	// directory of the session file. It outlives logout, so that every
	// login from this installation sends the same UID and
	// secretMachineId. The UID identifies the device, so it should not
	// change between logins.
	deviceFileName = "resonite-device.json"
)

// A storedSession is the content of the session file: a session that
// login created, the API that issued it, and the device identifiers the
// login sent. The embedded Session's String method leaves out the token,
// so printing a storedSession with fmt does not reveal it.
type storedSession struct {
	// API is the base URL of the REST API that issued the token. The
	// commands send the token only to it and to its hub.
	API string `json:"api"`

	// Username is the name or email address the user signed in with.
	Username string `json:"username,omitempty"`

	SecretMachineID string `json:"secretMachineId"`

	resonite.Session
}

// A device contains the identifiers that every login of this installation
// sends.
type device struct {
	UID             string `json:"uid"`
	SecretMachineID string `json:"secretMachineId"`
}

// defaultSessionFile returns the session file in the user's configuration
// directory, such as ~/.config/hubwire/resonite-session.json on Linux.
func defaultSessionFile() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("finding the configuration directory for the session file: %w; pass --session-file", err)
	}
	return filepath.Join(dir, "hubwire", sessionFileName), nil
}

// A widePermissionsError reports a private file that users other than its
// owner may read or write.
type widePermissionsError struct {
	path string
	mode fs.FileMode
}

func (e *widePermissionsError) Error() string {
	return fmt.Sprintf("%s has mode %04o, so other users can read or change it; run 'chmod 600 %s'", e.path, e.mode.Perm(), e.path)
}

// checkPrivate returns a *widePermissionsError when the permissions of
// info give access to other users than the owner. Windows has no such
// bits, so nothing is checked there.
func checkPrivate(path string, info fs.FileInfo) error {
	if runtime.GOOS == "windows" || info.Mode().Perm()&0o077 == 0 {
		return nil
	}
	return &widePermissionsError{path: path, mode: info.Mode()}
}

// readPrivateFile reads path, which must be a regular file that only its
// owner can read and write.
func readPrivateFile(path string) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if err := checkPrivate(path, info); err != nil {
		return nil, err
	}
	return os.ReadFile(path)
}

// writePrivateFile replaces path with data, with mode 0600, creating its
// directory with mode 0700 when it is missing. It writes a temporary file
// in the same directory and renames it, so that a reader never sees a
// partly written file and the old file's wider permissions do not carry
// over.
func writePrivateFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".hubprobe-*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return err
	}

	if err := f.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		return fail(err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}

	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// loadDevice returns the device identifiers stored beside the session file
// sessionPath, and creates them on first use. A device file with wider
// permissions than 0600 is rewritten with 0600, and note is called with
// what was changed.
func loadDevice(sessionPath string, note func(string)) (device, error) {
	path := filepath.Join(filepath.Dir(sessionPath), deviceFileName)
	data, err := readPrivateFile(path)
	var wide *widePermissionsError
	switch {
	case errors.As(err, &wide):
		data, err = os.ReadFile(path)
		if err != nil {
			return device{}, err
		}
		var d device
		if err := json.Unmarshal(data, &d); err != nil || d.UID == "" || d.SecretMachineID == "" {
			return device{}, fmt.Errorf("%s is not a valid device file; delete it to create new device identifiers", path)
		}
		if err := saveDevice(path, d); err != nil {
			return device{}, err
		}
		note(fmt.Sprintf("%s had mode %04o; it now has mode 0600", path, wide.mode.Perm()))
		return d, nil
	case errors.Is(err, fs.ErrNotExist):
		d := device{UID: resonite.NewUID(), SecretMachineID: newUUID()}
		return d, saveDevice(path, d)
	case err != nil:
		return device{}, err
	}
	var d device
	if err := json.Unmarshal(data, &d); err != nil || d.UID == "" || d.SecretMachineID == "" {
		return device{}, fmt.Errorf("%s is not a valid device file; delete it to create new device identifiers", path)
	}
	return d, nil
}

func saveDevice(path string, d device) error {
	data, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	return writePrivateFile(path, append(data, '\n'))
}

// errNoSession reports that the session file does not exist.
var errNoSession = errors.New("no session")

// loadSession reads the session file at path. A missing file gives an
// error matching errNoSession. A file with wider permissions than 0600
// gives a *widePermissionsError, since its token may have leaked, unless
// allowWide is set, which logout sets to revoke such a token.
func loadSession(path string, allowWide bool) (*storedSession, error) {
	data, err := readPrivateFile(path)
	var wide *widePermissionsError
	if allowWide && errors.As(err, &wide) {
		data, err = os.ReadFile(path)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s does not exist; sign in with 'hubprobe resonite login'", errNoSession, path)
	}
	if err != nil {
		return nil, err
	}
	var s storedSession
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%s is not a valid session file: %v; sign in again with 'hubprobe resonite login'", path, err)
	}
	if s.UserID == "" || s.Token == "" || s.API == "" {
		return nil, fmt.Errorf("%s has no user ID, token or API URL; sign in again with 'hubprobe resonite login'", path)
	}
	return &s, nil
}

// saveSession writes s to path with mode 0600.
func saveSession(path string, s *storedSession) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return writePrivateFile(path, append(data, '\n'))
}

// newUUID returns a random UUID version 4, the form the Resonite wiki
// suggests for secretMachineId.
func newUUID() string {
	var b [16]byte
	rand.Read(b[:]) // never returns an error
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// normalizeAPI returns the REST base URL raw without a trailing slash, or
// an error when it is not an absolute http or https URL.
func normalizeAPI(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("invalid API URL %q: give an absolute http or https URL such as %s", raw, resonite.DefaultBaseURL)
	}
	return strings.TrimRight(raw, "/"), nil
}
