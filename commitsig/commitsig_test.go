package commitsig

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/otagit/otagit/internal/testgitsig"
	"github.com/otagit/otagit/internal/testrepo"
)

// commit makes a commit with the repo's signer and returns it as a reader
// of the bare repository would see it.
func commit(t *testing.T, r *testrepo.Repo, msg string) *object.Commit {
	t.Helper()
	r.WriteString("file.txt", msg)
	h := r.CommitPush(msg)
	c, err := r.OpenBare().CommitObject(plumbing.NewHash(h))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestOpenPGP(t *testing.T) {
	alice := testgitsig.NewPGP(t, "Alice", "alice@example.com")
	mallory := testgitsig.NewPGP(t, "Mallory", "mallory@example.com")
	other := testgitsig.NewPGP(t, "Bob", "bob@example.com")
	// Two armored blocks in one file, as `cat` of two exports gives.
	kr, err := Parse("keys.asc", []byte(testgitsig.ArmoredPublic(t, other)+testgitsig.ArmoredPublic(t, alice)))
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := kr.Len(); n != 2 {
		t.Fatalf("%d OpenPGP keys, want 2", n)
	}
	r := testrepo.New(t)

	r.SignKey = alice
	c := commit(t, r, "signed by alice")
	s, err := kr.Verify(c)
	if err != nil {
		t.Fatal(err)
	}
	if s.Kind != "openpgp" || s.Name != "Alice <alice@example.com>" || len(s.Key) != 40 {
		t.Errorf("signer %+v", s)
	}

	r.SignKey = nil
	if _, err := kr.Verify(commit(t, r, "unsigned")); !errors.Is(err, ErrUnsigned) {
		t.Errorf("unsigned: err = %v", err)
	}
	r.SignKey = mallory
	_, err = kr.Verify(commit(t, r, "signed by mallory"))
	if !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "unknown key (key id") {
		t.Errorf("unknown key: err = %v", err)
	}

	// The same signature on a changed commit (a rewritten message).
	c.Message = "signed by alice, then changed"
	if _, err := kr.Verify(c); !errors.Is(err, ErrUntrusted) {
		t.Errorf("changed commit: err = %v", err)
	}
}

func TestSSH(t *testing.T) {
	dev := testgitsig.NewSSH(t)
	stranger := testgitsig.NewSSH(t)
	kr, err := Parse("allowed_signers", []byte("# team\n"+dev.AllowedSigner("dev@example.com")+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	r := testrepo.New(t)
	r.Signer = dev
	s, err := kr.Verify(commit(t, r, "signed with ssh"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Kind != "ssh" || s.Name != "dev@example.com" || !strings.HasPrefix(s.Key, "SHA256:") {
		t.Errorf("signer %+v", s)
	}

	r.Signer = stranger
	if _, err := kr.Verify(commit(t, r, "stranger")); !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "unknown key SHA256:") {
		t.Errorf("unknown key: err = %v", err)
	}
	r.Signer = &testgitsig.SSH{Signer: dev.Signer, Namespace: "file"}
	if _, err := kr.Verify(commit(t, r, "another namespace")); !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), `namespace "file"`) {
		t.Errorf("namespace file: err = %v", err)
	}

	// An allowed signer limited to other namespaces does not sign commits.
	limited, err := Parse("allowed_signers", []byte(strings.Replace(dev.AllowedSigner("dev@example.com"), " ssh-", ` namespaces="file,mail" ssh-`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	r.Signer = dev
	c := commit(t, r, "signed again")
	if _, err := limited.Verify(c); !errors.Is(err, ErrUntrusted) {
		t.Errorf("key limited to file,mail: err = %v", err)
	}
	c.Message = "changed"
	if _, err := kr.Verify(c); !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "does not verify") {
		t.Errorf("changed commit: err = %v", err)
	}
}

// TestSSHKeygen verifies a commit signed by OpenSSH itself, as git signs
// with gpg.format=ssh.
func TestSSHKeygen(t *testing.T) {
	signer := testgitsig.NewSSHKeygen(t)
	// A bare public key line (an authorized_keys or .pub line) works too.
	kr, err := Parse("dev.pub", []byte(signer.Public+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	r := testrepo.New(t)
	r.Signer = signer
	s, err := kr.Verify(commit(t, r, "signed by ssh-keygen"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "dev@example.com" {
		t.Errorf("signer %+v, want the key's comment as its name", s)
	}
}

func TestParseProblems(t *testing.T) {
	dev := testgitsig.NewSSH(t).AllowedSigner("dev@example.com")
	for _, tc := range []struct{ name, data, want string }{
		{"valid-before", strings.Replace(dev, " ssh-", ` valid-before="20300101" ssh-`, 1), "allowed_signers:2: option valid-before is not supported"},
		{"cert-authority", strings.Replace(dev, " ssh-", " cert-authority ssh-", 1), "allowed_signers:2: cert-authority: SSH certificates are not supported"},
		{"not a key", "dev@example.com ssh-ed25519 !!!", "allowed_signers:2: not an allowed signer"},
		{"private OpenPGP key", "-----BEGIN PGP PRIVATE KEY BLOCK-----\n", "holds a private key"},
		{"broken OpenPGP key", "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----\n", "allowed_signers: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("allowed_signers", []byte("# comment\n"+tc.data+"\n"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	pgp := filepath.Join(dir, "web-flow.gpg")
	signers := filepath.Join(dir, "allowed_signers")
	empty := filepath.Join(dir, "empty")
	os.WriteFile(pgp, []byte(testgitsig.ArmoredPublic(t, testgitsig.NewPGP(t, "GitHub", "noreply@github.com"))), 0o644)
	os.WriteFile(signers, []byte(testgitsig.NewSSH(t).AllowedSigner("dev@example.com")+"\n"), 0o644)
	os.WriteFile(empty, []byte("# nobody yet\n"), 0o644)
	kr, err := Load(pgp, signers)
	if err != nil {
		t.Fatal(err)
	}
	if p, s := kr.Len(); p != 1 || s != 1 {
		t.Errorf("Len = %d, %d; want 1, 1", p, s)
	}
	if _, err := Load(empty); err == nil || !strings.Contains(err.Error(), "no keys") {
		t.Errorf("empty keyring: err = %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing file loads")
	}
}
