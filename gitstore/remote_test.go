package gitstore

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
)

func TestRemoteAuth(t *testing.T) {
	dir := t.TempDir()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(key, "")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "id_ed25519")
	os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600)
	pub, _ := ssh.NewPublicKey(key.Public())
	knownHosts := filepath.Join(dir, "known_hosts")
	os.WriteFile(knownHosts, []byte("github.com "+string(ssh.MarshalAuthorizedKey(pub))), 0o600)

	tests := []struct {
		name    string
		remote  Remote
		check   func(t *testing.T, a any)
		wantErr string
	}{
		{"local path: none", Remote{URL: dir}, func(t *testing.T, a any) {
			if a != nil {
				t.Errorf("auth: %T", a)
			}
		}, ""},
		{"https with token", Remote{URL: "https://github.com/acme/fleet.git", Token: "t0k"}, func(t *testing.T, a any) {
			b, ok := a.(*githttp.BasicAuth)
			if !ok || b.Username != "x-access-token" || b.Password != "t0k" {
				t.Errorf("auth: %#v", a)
			}
		}, ""},
		{"https user from URL", Remote{URL: "https://bot@git.example.com/fleet.git", Token: "t0k"}, func(t *testing.T, a any) {
			if b, ok := a.(*githttp.BasicAuth); !ok || b.Username != "bot" {
				t.Errorf("auth: %#v", a)
			}
		}, ""},
		{"https without token", Remote{URL: "https://github.com/acme/fleet.git"}, func(t *testing.T, a any) {
			if a != nil {
				t.Errorf("auth: %T", a)
			}
		}, ""},
		{"scp-style with key and known hosts", Remote{URL: "git@github.com:acme/fleet.git", SSHKeyFile: keyFile, KnownHostsFile: knownHosts}, func(t *testing.T, a any) {
			k, ok := a.(*gitssh.PublicKeys)
			if !ok || k.User != "git" || k.HostKeyCallback == nil {
				t.Errorf("auth: %#v", a)
			}
		}, ""},
		{"missing key file", Remote{URL: "ssh://git@github.com/acme/fleet.git", SSHKeyFile: filepath.Join(dir, "nope")}, nil, "ssh key"},
		{"bad known hosts", Remote{URL: "ssh://git@github.com/acme/fleet.git", SSHKeyFile: keyFile, KnownHostsFile: filepath.Join(dir, "nope")}, nil, "ssh known hosts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := tt.remote.auth()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error: got %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var v any
			if a != nil {
				v = a
			}
			tt.check(t, v)
		})
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://user:s3cret@github.com/acme/fleet.git": "https://xxxxx:xxxxx@github.com/acme/fleet.git",
		"https://ghp_t0ken@github.com/acme/fleet.git":   "https://xxxxx@github.com/acme/fleet.git",
		"ssh://git@github.com/acme/fleet.git":           "ssh://git@github.com/acme/fleet.git",
		"https://github.com/acme/fleet.git":             "https://github.com/acme/fleet.git",
		"git@github.com:acme/fleet.git":                 "git@github.com:acme/fleet.git",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q): got %q, want %q", in, got, want)
		}
	}
}

func TestMissingLocalRemote(t *testing.T) {
	data := t.TempDir()
	missing := filepath.Join(t.TempDir(), "gone")
	for _, url := range []string{missing, "file://" + missing} {
		_, err := New(Options{Remote: Remote{URL: url}, DataDir: data})
		if err == nil || !strings.Contains(err.Error(), missing+" does not exist") {
			t.Errorf("%s: got %v, want the path named", url, err)
		}
	}
	// With an earlier clone the server starts and serves it while the
	// remote is away (a disk not mounted yet).
	if err := os.WriteFile(filepath.Join(data, "state.json"), []byte(`{"commit":"0000000000000000000000000000000000000000"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Options{Remote: Remote{URL: missing}, DataDir: data}); err != nil {
		t.Errorf("with an earlier clone: %v", err)
	}
}
