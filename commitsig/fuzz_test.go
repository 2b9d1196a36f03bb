package commitsig

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/otagit/otagit/internal/testgitsig"
)

// FuzzVerify gives Verify arbitrary signatures, and Parse arbitrary
// keyring files: neither may panic, and no made-up signature verifies.
func FuzzVerify(f *testing.F) {
	dev := testgitsig.NewSSH(f)
	alice := testgitsig.NewPGP(f, "Alice", "alice@example.com")
	c := &object.Commit{Message: "m", Author: object.Signature{Name: "a", When: time.Unix(0, 0)}}
	c.Committer = c.Author
	ssh, err := dev.Sign(strings.NewReader("x"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(ssh), dev.AllowedSigner("dev"))
	f.Add("-----BEGIN PGP SIGNATURE-----\n\nwnUEABYKAB0WIQ==\n-----END PGP SIGNATURE-----\n", testgitsig.ArmoredPublic(f, alice))
	f.Add("-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n", `dev namespaces="git" ssh-ed25519 AAAA`)
	f.Fuzz(func(t *testing.T, sig, keys string) {
		kr, err := Parse("keys", []byte(keys))
		if err != nil {
			kr, _ = Parse("keys", []byte(dev.AllowedSigner("dev")))
		}
		c := *c
		c.PGPSignature = sig
		if s, err := kr.Verify(&c); err == nil {
			t.Fatalf("a made-up signature verifies: %+v", s)
		} else if !errors.Is(err, ErrUnsigned) && !errors.Is(err, ErrUntrusted) {
			t.Fatalf("err = %v, want ErrUnsigned or ErrUntrusted", err)
		}
	})
}
