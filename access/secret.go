package access

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"
)

// Secret is a secret read from a file or an environment variable, which
// Reload reads again (a rotated token file, on SIGHUP). It is safe for
// concurrent use; the zero value and nil hold no secret.
type Secret struct {
	name, file, env string
	v               atomic.Pointer[[]byte]
}

// NewSecret reads the secret called name (for errors: "admin token") from
// file, or from the environment variable env when file is "". Surrounding
// white space (a trailing newline) is dropped. Secrets are never taken
// from command-line values, which `ps` shows.
func NewSecret(name, file, env string) (*Secret, error) {
	s := &Secret{name: name, file: file, env: env}
	if err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// StaticSecret returns a Secret holding v, which Reload keeps.
func StaticSecret(v string) *Secret {
	s := &Secret{}
	b := []byte(v)
	s.v.Store(&b)
	return s
}

// Reload reads the secret again. On an error the old value is kept.
func (s *Secret) Reload() error {
	if s.file == "" && s.env == "" {
		return nil
	}
	b, err := ReadSecret(s.file, s.env)
	if err != nil {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	s.v.Store(&b)
	return nil
}

// ReadSecret reads a secret from file, or else from the environment
// variable env. Surrounding white space (a trailing newline) is dropped.
// Secrets are never taken from command-line values, which `ps` shows.
func ReadSecret(file, env string) ([]byte, error) {
	var raw string
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		raw = string(b)
	} else {
		raw = os.Getenv(env)
	}
	return []byte(strings.TrimSpace(raw)), nil
}

// Bytes returns the secret, nil if there is none. The caller must not
// change it.
func (s *Secret) Bytes() []byte {
	if s == nil {
		return nil
	}
	if p := s.v.Load(); p != nil && len(*p) > 0 {
		return *p
	}
	return nil
}

// Set reports whether the secret is not empty.
func (s *Secret) Set() bool { return len(s.Bytes()) > 0 }

// Name says which secret this is, for logs (never its value).
func (s *Secret) Name() string {
	if s == nil || s.name == "" {
		return "secret"
	}
	return s.name
}
