package devauth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/otagit/otagit/checkin"
	"github.com/otagit/otagit/rollout"
)

// Options configures an Authorizer.
type Options struct {
	// File is the credential file (see fileDoc for its format). Required.
	File string
	// CacheSize bounds how many verified credentials are remembered.
	// Default 65536.
	CacheSize int
	// HashWait bounds how long a request waits for a free hash check
	// (at most GOMAXPROCS run at once) before it is refused. Default 2 s.
	HashWait time.Duration
}

// Authorizer checks device requests' basic auth against a credential
// file. AuthorizeDevice is safe for concurrent use; Reload swaps the
// credentials atomically.
type Authorizer struct {
	opts  Options
	creds atomic.Pointer[credentials]
	cache cache
	// hashes bounds concurrent bcrypt checks, which are slow on purpose:
	// a flood of wrong passwords must not take every core.
	hashes chan struct{}
	macs   sync.Pool // of *mac

	flightMu sync.Mutex // guards flights
	flights  map[[sha256.Size]byte]*flight

	// compare is bcrypt.CompareHashAndPassword; tests count its calls.
	compare func(hash, pass []byte) error
}

// New loads opts.File and returns its Authorizer.
func New(opts Options) (*Authorizer, error) {
	if opts.CacheSize <= 0 {
		opts.CacheSize = 1 << 16
	}
	if opts.HashWait <= 0 {
		opts.HashWait = 2 * time.Second
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("devauth: cache key: %w", err)
	}
	a := &Authorizer{opts: opts, hashes: make(chan struct{}, runtime.GOMAXPROCS(0)),
		flights: map[[sha256.Size]byte]*flight{}, compare: bcrypt.CompareHashAndPassword}
	a.cache.init(opts.CacheSize)
	a.macs.New = func() any { return &mac{h: hmac.New(sha256.New, key)} }
	if err := a.Reload(); err != nil {
		return nil, err
	}
	return a, nil
}

// Reload reads the credential file again and, when it is valid, serves
// its credentials from now on; on an error the credentials loaded before
// stay. Cached verifications of a credential that changed no longer
// match it (an entry remembers the credential it was verified against).
func (a *Authorizer) Reload() error {
	c, err := load(a.opts.File)
	if err != nil {
		return err
	}
	a.creds.Store(c)
	return nil
}

// Errors of AuthorizeDevice, one line each for the log.
var (
	ErrNoCredentials = errors.New("no credentials (Authorization: Basic expected)")
	ErrWrong         = errors.New("wrong credentials")
	ErrNotCovered    = errors.New("no credential configured for this device, and credentials are required")
	ErrBusy          = errors.New("too many credential checks at once")
)

// AuthorizeDevice implements httpapi.DeviceAuthorizer: it returns how r
// proved it speaks for dev (the whitelisted device it names, nil for
// none) of platform, or why it did not. A credential verified once for
// the device is remembered, so its later requests cost an HMAC, not a
// bcrypt check; wrong ones are never remembered.
func (a *Authorizer) AuthorizeDevice(r *http.Request, dev *rollout.Device, platform string) (checkin.Auth, error) {
	c := a.creds.Load()
	cr, own := c.credentialFor(dev, platform)
	if cr == nil {
		if c.required {
			return checkin.AuthNone, ErrNotCovered
		}
		return checkin.AuthNone, nil
	}
	level := checkin.AuthShared
	if own {
		level = checkin.AuthDevice
	}
	var header string
	if h := r.Header["Authorization"]; len(h) == 1 {
		header = h[0]
	}
	m := a.macs.Get().(*mac)
	defer a.macs.Put(m)
	user, pass, ok := decodeBasic(m.creds[:0], header)
	if !ok {
		return checkin.AuthNone, ErrNoCredentials
	}
	m.creds = user[:cap(user)] // keep a buffer that grew
	key := m.sum(cr.scope, user, pass)
	defer clear(m.creds)
	if a.cache.has(key, cr) {
		return level, nil
	}
	if err := a.verifyOnce(r.Context(), key, cr, string(user), string(pass)); err != nil {
		return checkin.AuthNone, err
	}
	return level, nil
}

// flight is one hash check under way, which requests presenting the same
// user and password for the same credential wait for instead of checking again:
// a fleet that comes back at once (after a restart, say) with a shared
// credential costs one check, not one a connection.
type flight struct {
	done    chan struct{}
	err     error
	waiters int // requests waiting for it; guarded by flightMu
}

// verifyOnce verifies user and pass against cr, once for all concurrent
// callers with the same key, and caches a success.
func (a *Authorizer) verifyOnce(ctx context.Context, key [sha256.Size]byte, cr *credential, user, pass string) error {
	a.flightMu.Lock()
	f, ok := a.flights[key]
	if !ok {
		f = &flight{done: make(chan struct{})}
		a.flights[key] = f
	} else {
		f.waiters++
	}
	a.flightMu.Unlock()
	if ok {
		select {
		case <-f.done:
			return f.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.err = a.verify(ctx, cr, user, pass)
	if f.err == nil {
		a.cache.add(key, cr)
	}
	a.flightMu.Lock()
	delete(a.flights, key)
	a.flightMu.Unlock()
	close(f.done)
	return f.err
}

// verify checks user and pass against cr with bcrypt, waiting at most
// HashWait for a free check.
func (a *Authorizer) verify(ctx context.Context, cr *credential, user, pass string) error {
	t := time.NewTimer(a.opts.HashWait)
	defer t.Stop()
	select {
	case a.hashes <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return ErrBusy
	}
	defer func() { <-a.hashes }()
	userOK := subtle.ConstantTimeCompare([]byte(user), []byte(cr.user)) == 1
	// Always hash, so that a wrong user takes as long as a wrong password.
	passOK := a.compare([]byte(cr.hash), []byte(pass)) == nil
	if !userOK || !passOK {
		return ErrWrong
	}
	return nil
}

// mac computes cache keys: HMAC-SHA256, under a key made at start, of
// the credential's scope and the credentials presented, so that the cache holds no
// password nor anything a password can be guessed from offline.
type mac struct {
	h     hash.Hash
	buf   []byte
	creds []byte // the decoded Authorization header
	sum32 [sha256.Size]byte
}

func (m *mac) sum(scope string, user, pass []byte) [sha256.Size]byte {
	m.buf = append(append(append(append(append(m.buf[:0], scope...), 0), user...), 0), pass...)
	m.h.Reset()
	m.h.Write(m.buf)
	m.h.Sum(m.sum32[:0])
	clear(m.buf)
	return m.sum32
}

// cache remembers verified credentials: key -> the credential verified.
// Sharded, each shard bounded; a full shard drops an arbitrary entry.
type cache struct {
	shards [32]cacheShard
	per    int
}

type cacheShard struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]credential
}

func (c *cache) init(size int) {
	c.per = max(size/len(c.shards), 1)
	for i := range c.shards {
		c.shards[i].m = make(map[[sha256.Size]byte]credential)
	}
}

func (c *cache) shard(k [sha256.Size]byte) *cacheShard { return &c.shards[int(k[0])%len(c.shards)] }

// has reports whether k was verified against a credential equal to cr:
// a changed user or hash no longer matches.
func (c *cache) has(k [sha256.Size]byte, cr *credential) bool {
	s := c.shard(k)
	s.mu.Lock()
	v, ok := s.m[k]
	s.mu.Unlock()
	return ok && v.user == cr.user && v.hash == cr.hash
}

func (c *cache) add(k [sha256.Size]byte, cr *credential) {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[k]; !ok && len(s.m) >= c.per {
		for old := range s.m {
			delete(s.m, old)
			break
		}
	}
	s.m[k] = credential{user: cr.user, hash: cr.hash}
}

// Len is how many verified credentials are cached (for tests and stats).
func (a *Authorizer) Len() int {
	n := 0
	for i := range a.cache.shards {
		s := &a.cache.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// Hash returns the bcrypt hash of password, for the credential file.
func Hash(password []byte) (string, error) {
	if len(password) == 0 {
		return "", errors.New("empty password")
	}
	h, err := bcrypt.GenerateFromPassword(password, bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}
