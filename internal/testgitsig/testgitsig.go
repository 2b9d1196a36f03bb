// Package testgitsig makes keys and commit signers for tests of signed
// commits: OpenPGP entities (ProtonMail/go-crypto, as go-git signs with
// them), SSH signers that write OpenSSH "SSHSIG" signatures in the "git"
// namespace as PROTOCOL.sshsig describes, and a signer that runs
// `ssh-keygen -Y sign` as git does with gpg.format=ssh.
package testgitsig

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha512"
	"encoding/pem"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"golang.org/x/crypto/ssh"
)

// NewPGP returns a new OpenPGP signing key (Ed25519, quick to make).
func NewPGP(t testing.TB, name, email string) *openpgp.Entity {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", email, &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// ArmoredPublic returns e's public key as `gpg --export --armor` writes it.
func ArmoredPublic(t testing.TB, e *openpgp.Entity) string {
	t.Helper()
	var b bytes.Buffer
	w, err := armor.Encode(&b, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String() + "\n"
}

// SSH signs commits with an SSH key, as a go-git Signer.
type SSH struct {
	Signer ssh.Signer
	// Namespace is signed into the signature; "" means "git".
	Namespace string
}

// NewSSH returns a signer with a new Ed25519 key.
func NewSSH(t testing.TB) *SSH {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return &SSH{Signer: s}
}

// AllowedSigner returns s's line for an allowed signers file.
func (s *SSH) AllowedSigner(principal string) string {
	return principal + " " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.Signer.PublicKey())))
}

// Sign implements go-git's Signer: an armored SSHSIG signature of
// message (PROTOCOL.sshsig: SHA-512 of the message, signed with the
// "SSHSIG" preamble, namespace and hash name).
func (s *SSH) Sign(message io.Reader) ([]byte, error) {
	msg, err := io.ReadAll(message)
	if err != nil {
		return nil, err
	}
	ns := s.Namespace
	if ns == "" {
		ns = "git"
	}
	h := sha512.Sum512(msg)
	signed := append([]byte("SSHSIG"), ssh.Marshal(struct {
		Namespace, Reserved, Hash string
		Digest                    []byte
	}{ns, "", "sha512", h[:]})...)
	sig, err := s.Signer.Sign(rand.Reader, signed)
	if err != nil {
		return nil, err
	}
	blob := append([]byte("SSHSIG"), ssh.Marshal(struct {
		Version   uint32
		PublicKey []byte
		Namespace string
		Reserved  string
		Hash      string
		Signature []byte
	}{1, s.Signer.PublicKey().Marshal(), ns, "", "sha512", ssh.Marshal(sig)})...)
	return pem.EncodeToMemory(&pem.Block{Type: "SSH SIGNATURE", Bytes: blob}), nil
}

// SSHKeygen signs commits by running `ssh-keygen -Y sign -n git`, as git
// does with gpg.format=ssh.
type SSHKeygen struct {
	t       testing.TB
	keyFile string
	// Public is the key's authorized_keys line.
	Public string
}

// NewSSHKeygen makes an Ed25519 key with ssh-keygen. It skips the test
// when ssh-keygen is missing, except under CI=true.
func NewSSHKeygen(t testing.TB) *SSHKeygen {
	t.Helper()
	bin, err := exec.LookPath("ssh-keygen")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("ssh-keygen not found: .ci/run installs openssh-client")
		}
		t.Skip("ssh-keygen not found: install openssh-client to check signatures it makes")
	}
	key := filepath.Join(t.TempDir(), "id_ed25519")
	if out, err := exec.Command(bin, "-q", "-t", "ed25519", "-N", "", "-C", "dev@example.com", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return &SSHKeygen{t: t, keyFile: key, Public: strings.TrimSpace(string(pub))}
}

// Sign implements go-git's Signer.
func (s *SSHKeygen) Sign(message io.Reader) ([]byte, error) {
	cmd := exec.Command("ssh-keygen", "-Y", "sign", "-n", "git", "-f", s.keyFile)
	cmd.Stdin = message
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		s.t.Fatalf("ssh-keygen -Y sign: %v: %s", err, errb.String())
	}
	return out.Bytes(), nil
}
