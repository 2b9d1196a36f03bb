// Package commitsig verifies Git commit signatures against the keys a
// server trusts: OpenPGP keys (git's default gpg.format) and SSH keys
// (gpg.format=ssh), as git verify-commit checks them.
//
// A commit's signature covers the commit object without its gpgsig
// header: tree, parents, author, committer and message. OpenPGP
// signatures are checked with ProtonMail/go-crypto, as go-git's
// Commit.Verify does; key expiry and revocation are judged now. SSH
// signatures are OpenSSH "SSHSIG" signatures (PROTOCOL.sshsig) in the
// "git" namespace, checked with golang.org/x/crypto/ssh; SSH
// certificates and X.509 (gpgsm) signatures are not supported.
package commitsig

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"golang.org/x/crypto/ssh"
)

// Errors returned by Verify, wrapped with the reason; test with errors.Is.
var (
	// ErrUnsigned reports a commit without a signature.
	ErrUnsigned = errors.New("commit is not signed")
	// ErrUntrusted reports a signature that no trusted key made: an
	// unknown key, a signature that does not verify, an expired or
	// revoked key, or a kind of signature this package cannot check.
	ErrUntrusted = errors.New("commit is not signed by a trusted key")
)

// Keyring is the set of keys whose commit signatures a server accepts.
// It is not changed after it is made and is safe for concurrent use.
type Keyring struct {
	pgp openpgp.EntityList
	ssh []sshSigner
}

// sshSigner is one line of an allowed signers file.
type sshSigner struct {
	principals string
	key        ssh.PublicKey
	namespaces []string // patterns; nil allows every namespace
}

// Signer describes who signed a commit.
type Signer struct {
	// Kind is "openpgp" or "ssh".
	Kind string
	// Key identifies the key: an OpenPGP fingerprint or an SSH key's
	// SHA256 fingerprint.
	Key string
	// Name is the key's primary identity or the allowed signer's
	// principals; it may be empty.
	Name string
}

// String says who signed, e.g. "openpgp 4A1B... (Alice <alice@example.com>)".
func (s Signer) String() string {
	if s.Name == "" {
		return s.Kind + " " + s.Key
	}
	return s.Kind + " " + s.Key + " (" + s.Name + ")"
}

// maxKeyFile bounds a keyring file.
const maxKeyFile = 4 << 20

// Load reads the keyring files: each holds armored OpenPGP public keys
// (`gpg --export --armor`, GitHub's https://github.com/web-flow.gpg), or
// SSH keys in git's allowed signers format (gpg.ssh.allowedSignersFile:
// `principals [options] key`, where a line may also be a bare public key
// as in an authorized_keys or .pub file). Errors name the file and line.
func Load(files ...string) (*Keyring, error) {
	kr := &Keyring{}
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			return nil, fmt.Errorf("commit keys: %w", err)
		}
		if st.Size() > maxKeyFile {
			return nil, fmt.Errorf("commit keys %s: %d bytes is too large for a keyring", f, st.Size())
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("commit keys: %w", err)
		}
		if err := kr.add(f, data); err != nil {
			return nil, err
		}
	}
	if len(kr.pgp) == 0 && len(kr.ssh) == 0 {
		return nil, fmt.Errorf("commit keys %s: no keys", strings.Join(files, ", "))
	}
	return kr, nil
}

// Parse returns the keyring of one file's content (see Load); name is
// used in errors.
func Parse(name string, data []byte) (*Keyring, error) {
	kr := &Keyring{}
	if err := kr.add(name, data); err != nil {
		return nil, err
	}
	return kr, nil
}

const pgpKeyBlock = "-----BEGIN PGP PUBLIC KEY BLOCK-----"

func (kr *Keyring) add(name string, data []byte) error {
	if bytes.Contains(data, []byte("-----BEGIN PGP")) {
		return kr.addPGP(name, data)
	}
	return kr.addSSH(name, data)
}

// addPGP reads every armored public key block of data.
func (kr *Keyring) addPGP(name string, data []byte) error {
	if bytes.Contains(data, []byte("-----BEGIN PGP PRIVATE KEY BLOCK-----")) {
		return fmt.Errorf("commit keys %s: holds a private key: give the server only public keys (gpg --export --armor)", name)
	}
	blocks := bytes.Split(data, []byte(pgpKeyBlock))
	if len(blocks) < 2 {
		return fmt.Errorf("commit keys %s: no %s", name, pgpKeyBlock)
	}
	for _, b := range blocks[1:] {
		el, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(append([]byte(pgpKeyBlock), b...)))
		if err != nil {
			return fmt.Errorf("commit keys %s: %w", name, err)
		}
		kr.pgp = append(kr.pgp, el...)
	}
	return nil
}

// sshKeyTypes are the key types a bare public key line starts with.
var sshKeyTypes = []string{
	ssh.KeyAlgoED25519, ssh.KeyAlgoRSA, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521,
	ssh.KeyAlgoSKED25519, ssh.KeyAlgoSKECDSA256,
}

// addSSH reads an allowed signers file (ssh-keygen(1), ALLOWED SIGNERS).
func (kr *Keyring) addSSH(name string, data []byte) error {
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s, err := parseAllowedSigner(line)
		if err != nil {
			return fmt.Errorf("commit keys %s:%d: %w", name, i+1, err)
		}
		kr.ssh = append(kr.ssh, s)
	}
	return nil
}

func parseAllowedSigner(line string) (sshSigner, error) {
	var s sshSigner
	rest := line
	first, after, _ := strings.Cut(line, " ")
	isKey := false
	for _, t := range sshKeyTypes {
		isKey = isKey || first == t
	}
	if !isKey {
		s.principals, rest = first, strings.TrimSpace(after)
	}
	key, comment, options, _, err := ssh.ParseAuthorizedKey([]byte(rest))
	if err != nil {
		return s, fmt.Errorf("not an allowed signer (principals [options] key) nor a public key: %w", err)
	}
	if _, ok := key.(*ssh.Certificate); ok {
		return s, errors.New("SSH certificates are not supported")
	}
	if s.principals == "" {
		s.principals = comment
	}
	s.key = key
	for _, o := range options {
		name, value, _ := strings.Cut(o, "=")
		switch strings.ToLower(name) {
		case "namespaces":
			for _, ns := range strings.Split(strings.Trim(value, `"`), ",") {
				s.namespaces = append(s.namespaces, strings.TrimSpace(ns))
			}
		case "cert-authority":
			return s, errors.New("cert-authority: SSH certificates are not supported")
		default:
			// valid-after and valid-before would be judged against the
			// commit's own date, which its author chooses: refuse them
			// rather than ignore a limit the operator meant.
			return s, fmt.Errorf("option %s is not supported", name)
		}
	}
	return s, nil
}

// allows reports whether s may sign in namespace ns.
func (s sshSigner) allows(ns string) bool {
	if s.namespaces == nil {
		return true
	}
	for _, pat := range s.namespaces {
		if ok, _ := path.Match(pat, ns); ok {
			return true
		}
	}
	return false
}

// Len returns how many OpenPGP and SSH keys the keyring holds.
func (kr *Keyring) Len() (pgp, ssh int) { return len(kr.pgp), len(kr.ssh) }

// Verify checks that commit c is signed by a key of the keyring and says
// by whom. Errors match ErrUnsigned or ErrUntrusted.
func (kr *Keyring) Verify(c *object.Commit) (Signer, error) {
	sig := strings.TrimSpace(c.PGPSignature)
	if sig == "" {
		return Signer{}, ErrUnsigned
	}
	payload := &plumbing.MemoryObject{}
	if err := c.EncodeWithoutSignature(payload); err != nil {
		return Signer{}, fmt.Errorf("commit %s: %w", c.Hash, err)
	}
	raw, err := readAll(payload)
	if err != nil {
		return Signer{}, fmt.Errorf("commit %s: %w", c.Hash, err)
	}
	switch {
	case strings.HasPrefix(sig, "-----BEGIN PGP SIGNATURE-----"):
		return kr.verifyPGP(raw, sig)
	case strings.HasPrefix(sig, "-----BEGIN SSH SIGNATURE-----"):
		return kr.verifySSH(raw, sig)
	case strings.HasPrefix(sig, "-----BEGIN SIGNED MESSAGE-----"):
		return Signer{}, fmt.Errorf("%w: an X.509 (gpgsm) signature, which otagit cannot check", ErrUntrusted)
	}
	return Signer{}, fmt.Errorf("%w: a signature of an unknown kind", ErrUntrusted)
}

func readAll(o *plumbing.MemoryObject) ([]byte, error) {
	r, err := o.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var b bytes.Buffer
	_, err = b.ReadFrom(r)
	return b.Bytes(), err
}

func (kr *Keyring) verifyPGP(payload []byte, sig string) (Signer, error) {
	if strings.Count(sig, "-----BEGIN PGP SIGNATURE-----") > 1 {
		// As git and go-git do: whose signature would count is unclear.
		return Signer{}, fmt.Errorf("%w: more than one OpenPGP signature", ErrUntrusted)
	}
	if len(kr.pgp) == 0 {
		return Signer{}, fmt.Errorf("%w: an OpenPGP signature, and no OpenPGP keys are trusted", ErrUntrusted)
	}
	e, err := openpgp.CheckArmoredDetachedSignature(kr.pgp, bytes.NewReader(payload), strings.NewReader(sig), nil)
	switch {
	case errors.Is(err, pgperrors.ErrUnknownIssuer):
		return Signer{}, fmt.Errorf("%w: OpenPGP signature by an unknown key%s", ErrUntrusted, issuer(sig))
	case err != nil:
		return Signer{}, fmt.Errorf("%w: OpenPGP signature: %v", ErrUntrusted, err)
	}
	s := Signer{Kind: "openpgp", Key: strings.ToUpper(hex.EncodeToString(e.PrimaryKey.Fingerprint))}
	if id := e.PrimaryIdentity(); id != nil {
		s.Name = id.Name
	}
	return s, nil
}

// issuer names the key id of an OpenPGP signature, for messages.
func issuer(sig string) string {
	block, err := armor.Decode(strings.NewReader(sig))
	if err != nil {
		return ""
	}
	p, err := packet.Read(block.Body)
	if s, ok := p.(*packet.Signature); ok && err == nil && s.IssuerKeyId != nil {
		return fmt.Sprintf(" (key id %016X)", *s.IssuerKeyId)
	}
	return ""
}

// sshsig is an OpenSSH signature blob after its "SSHSIG" preamble.
type sshsig struct {
	Version       uint32
	PublicKey     []byte
	Namespace     string
	Reserved      []byte
	HashAlgorithm string
	Signature     []byte
}

// signedData is what an SSHSIG signature signs, after its preamble.
type signedData struct {
	Namespace     string
	Reserved      []byte
	HashAlgorithm string
	Hash          []byte
}

const sshsigMagic = "SSHSIG"

func (kr *Keyring) verifySSH(payload []byte, armored string) (Signer, error) {
	block, _ := pem.Decode([]byte(armored))
	if block == nil || block.Type != "SSH SIGNATURE" {
		return Signer{}, fmt.Errorf("%w: a malformed SSH signature", ErrUntrusted)
	}
	blob, ok := bytes.CutPrefix(block.Bytes, []byte(sshsigMagic))
	var sig sshsig
	if !ok || ssh.Unmarshal(blob, &sig) != nil || sig.Version != 1 {
		return Signer{}, fmt.Errorf("%w: a malformed SSH signature", ErrUntrusted)
	}
	if sig.Namespace != "git" {
		return Signer{}, fmt.Errorf("%w: an SSH signature for namespace %q, not \"git\"", ErrUntrusted, sig.Namespace)
	}
	pub, err := ssh.ParsePublicKey(sig.PublicKey)
	if err != nil {
		return Signer{}, fmt.Errorf("%w: SSH signature: %v", ErrUntrusted, err)
	}
	var signer *sshSigner
	for i := range kr.ssh {
		if bytes.Equal(kr.ssh[i].key.Marshal(), pub.Marshal()) && kr.ssh[i].allows(sig.Namespace) {
			signer = &kr.ssh[i]
			break
		}
	}
	if signer == nil {
		return Signer{}, fmt.Errorf("%w: SSH signature by an unknown key %s", ErrUntrusted, ssh.FingerprintSHA256(pub))
	}
	var digest []byte
	switch sig.HashAlgorithm {
	case "sha256":
		h := sha256.Sum256(payload)
		digest = h[:]
	case "sha512":
		h := sha512.Sum512(payload)
		digest = h[:]
	default:
		return Signer{}, fmt.Errorf("%w: SSH signature with hash %q (want sha256 or sha512)", ErrUntrusted, sig.HashAlgorithm)
	}
	var s ssh.Signature
	if err := ssh.Unmarshal(sig.Signature, &s); err != nil {
		return Signer{}, fmt.Errorf("%w: a malformed SSH signature", ErrUntrusted)
	}
	if s.Format == ssh.KeyAlgoRSA {
		// SHA-1, which ssh-keygen -Y verify refuses too.
		return Signer{}, fmt.Errorf("%w: an ssh-rsa (SHA-1) SSH signature; sign with rsa-sha2-512", ErrUntrusted)
	}
	data := append([]byte(sshsigMagic), ssh.Marshal(signedData{Namespace: sig.Namespace, Reserved: sig.Reserved, HashAlgorithm: sig.HashAlgorithm, Hash: digest})...)
	if err := pub.Verify(data, &s); err != nil {
		return Signer{}, fmt.Errorf("%w: SSH signature by %s does not verify: %v", ErrUntrusted, ssh.FingerprintSHA256(pub), err)
	}
	return Signer{Kind: "ssh", Key: ssh.FingerprintSHA256(pub), Name: signer.principals}, nil
}
