package main

import (
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// TestHashPassword: the hash printed verifies the password read from
// stdin (its first line, without the newline), and nothing else.
func TestHashPassword(t *testing.T) {
	old := stdin
	defer func() { stdin = old }()
	stdin = strings.NewReader("lamp secret\nsecond line\n")
	code, out, errs := runCLI(t, "hash-password")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	h := strings.TrimSpace(out)
	if bcrypt.CompareHashAndPassword([]byte(h), []byte("lamp secret")) != nil {
		t.Fatalf("%q does not verify the password", h)
	}
	if bcrypt.CompareHashAndPassword([]byte(h), []byte("lamp secret\n")) == nil || strings.Contains(out+errs, "lamp secret") {
		t.Fatal("the newline was hashed, or the password printed")
	}
	stdin = strings.NewReader("")
	if code, _, _ := runCLI(t, "hash-password"); code == 0 {
		t.Error("an empty password was hashed")
	}
}
