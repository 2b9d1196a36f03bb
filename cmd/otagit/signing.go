package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/otagit/otagit/commitsig"
	"github.com/otagit/otagit/config"
	"github.com/otagit/otagit/imagesig"
)

// signingFlags are the flags serve and validate share about signed
// firmware, so that validate can check a work tree exactly as a server
// with the same flags would.
type signingFlags struct {
	fs      *flag.FlagSet
	keys    *string
	require *string
}

func addSigningFlags(fs *flag.FlagSet) *signingFlags {
	return &signingFlags{
		fs: fs,
		keys: fs.String("signing-keys", "", "directory of trusted public keys for signed firmware, one NAME.pem per key; "+
			"platforms name theirs with signing_key"),
		require: fs.String("require-signing", "*", "with --signing-keys: comma-separated platform names or patterns that must be signed "+
			"whatever their platform file says (\"\": only platforms that set signing)"),
	}
}

// trust returns the trust the flags describe. Without --signing-keys a
// server trusts no key (a platform that asks for signatures is refused)
// and validate checks signatures for their format only (nil).
func (f *signingFlags) trust(server bool) (*config.Trust, error) {
	requireSet := false
	f.fs.Visit(func(fl *flag.Flag) { requireSet = requireSet || fl.Name == "require-signing" })
	if *f.keys == "" {
		if requireSet && *f.require != "" {
			return nil, errors.New("--require-signing needs --signing-keys: the keys that signatures are checked with")
		}
		if server {
			return &config.Trust{}, nil
		}
		return nil, nil
	}
	keys, err := imagesig.LoadDir(*f.keys)
	if err != nil {
		return nil, err
	}
	t := &config.Trust{Keys: keys}
	for _, pat := range strings.Split(*f.require, ",") {
		pat = strings.TrimSpace(pat)
		if pat == "" {
			continue
		}
		if !config.ValidRequirePattern(pat) {
			return nil, fmt.Errorf("--require-signing: %q is not a platform name or pattern", pat)
		}
		t.Require = append(t.Require, pat)
	}
	return t, nil
}

// describe says what the trust is, for the start-up log.
func describeTrust(t *config.Trust) (keys []string, require string) {
	if t == nil {
		return nil, ""
	}
	return t.Keys.Names(), strings.Join(t.Require, ",")
}

// loadKeys loads what serve trusts: the firmware signing keys of the
// flags and the commit keyrings of --verify-commits (nil without any). At
// start and on every SIGHUP.
func loadKeys(f *signingFlags, commitKeys []string) (*config.Trust, *commitsig.Keyring, error) {
	trust, err := f.trust(true)
	if err != nil {
		return nil, nil, err
	}
	if len(commitKeys) == 0 {
		return trust, nil, nil
	}
	commits, err := commitsig.Load(commitKeys...)
	if err != nil {
		return nil, nil, err
	}
	return trust, commits, nil
}
