package gitstore

import (
	"strings"
	"testing"

	"github.com/otagit/otagit/commitsig"
	"github.com/otagit/otagit/internal/testgitsig"
	"github.com/otagit/otagit/internal/testrepo"
	"github.com/otagit/otagit/internal/testwait"
)

// runSigned runs a Store for r that serves only commits signed by a key of
// kr; stop stops it and waits, so that another can start on data.
func runSigned(t *testing.T, r *testrepo.Repo, data string, kr *commitsig.Keyring) (s *Store, stop func()) {
	t.Helper()
	return runWith(t, Options{Remote: Remote{URL: r.Bare, Branch: "main"}, DataDir: data, Commits: kr})
}

// statusServing waits for the status to name commit as served: the
// snapshot is published just before the sync's status is.
func statusServing(s *Store, commit string) func() bool {
	return func() bool { return s.Status().Commit == commit }
}

func rejected(s *Store, commit string) func() bool {
	return func() bool { return s.Status().RejectedCommit == commit }
}

func TestSignedCommits(t *testing.T) {
	alice := testgitsig.NewPGP(t, "Alice", "alice@example.com")
	mallory := testgitsig.NewPGP(t, "Mallory", "mallory@example.com")
	kr, err := commitsig.Parse("keys.asc", []byte(testgitsig.ArmoredPublic(t, alice)))
	if err != nil {
		t.Fatal(err)
	}
	r := testrepo.New(t)
	r.SignKey = alice
	good := pushFiles(r, validFiles(t), "signed config")
	data := t.TempDir()
	s, stop := runSigned(t, r, data, kr)
	testwait.For(t, "signed commit served", statusServing(s, good))
	if st := s.Status(); !strings.Contains(st.SignedBy, "Alice <alice@example.com>") {
		t.Errorf("signed_by %q", st.SignedBy)
	}

	for _, tc := range []struct {
		name   string
		sign   func()
		reason string
	}{
		{"unsigned", func() { r.SignKey = nil }, "commit is not signed"},
		{"unknown key", func() { r.SignKey = mallory }, "commit is not signed by a trusted key: OpenPGP signature by an unknown key (key id"},
	} {
		tc.sign()
		r.WriteString("README.md", tc.name)
		bad := r.CommitPush(tc.name)
		s.Trigger("test")
		testwait.For(t, tc.name+" commit rejected", rejected(s, bad))
		st := s.Status()
		if st.Commit != good || !strings.HasPrefix(st.RejectedReason, tc.reason) || len(st.Problems) != 0 {
			t.Errorf("%s: serving %.7s, reason %q; want %.7s and %q", tc.name, st.Commit, st.RejectedReason, good, tc.reason)
		}
		if !strings.HasPrefix(st.LastError, "commit "+short(bad)+" rejected: "+tc.reason) {
			t.Errorf("%s: last error %q", tc.name, st.LastError)
		}
	}
	last := s.Status().RejectedCommit

	// A restart serves the last good commit and refuses the head again.
	stop()
	s, stop = runSigned(t, r, data, kr)
	testwait.For(t, "last good commit restored", serving(s, good))
	testwait.For(t, "head refused again", rejected(s, last))

	// A signed commit on top is served, unsigned history included: its
	// signer vouches for what it builds on.
	r.SignKey = alice
	r.WriteString("README.md", "fixed")
	fixed := r.CommitPush("signed on top")
	s.Trigger("test")
	testwait.For(t, "signed commit on top served", statusServing(s, fixed))
	if st := s.Status(); st.RejectedCommit != "" || st.RejectedReason != "" {
		t.Errorf("still rejected: %q %q", st.RejectedCommit, st.RejectedReason)
	}

	// A server that stops trusting Alice does not serve her commit, not
	// even from the local clone at restart.
	stop()
	malloryOnly, err := commitsig.Parse("keys.asc", []byte(testgitsig.ArmoredPublic(t, mallory)))
	if err != nil {
		t.Fatal(err)
	}
	s, _ = runSigned(t, r, data, malloryOnly)
	testwait.For(t, "head refused", rejected(s, fixed))
	if s.Current() != nil {
		t.Errorf("serving %s signed by a key no longer trusted", s.Current().Commit)
	}
}

// TestSetCommitsRechecksTheRefusedHead: a head refused as signed by an
// unknown key is served as soon as the reloaded keyring (SIGHUP) trusts
// its key, without a new push.
func TestSetCommitsRechecksTheRefusedHead(t *testing.T) {
	alice := testgitsig.NewPGP(t, "Alice", "alice@example.com")
	bob := testgitsig.NewPGP(t, "Bob", "bob@example.com")
	aliceOnly, err := commitsig.Parse("keys.asc", []byte(testgitsig.ArmoredPublic(t, alice)))
	if err != nil {
		t.Fatal(err)
	}
	both, err := commitsig.Parse("keys.asc", []byte(testgitsig.ArmoredPublic(t, alice)+"\n"+testgitsig.ArmoredPublic(t, bob)))
	if err != nil {
		t.Fatal(err)
	}
	r := testrepo.New(t)
	r.SignKey = alice
	good := pushFiles(r, validFiles(t), "signed by Alice")
	s, _ := runSigned(t, r, t.TempDir(), aliceOnly)
	testwait.For(t, "Alice's commit served", statusServing(s, good))
	r.SignKey = bob
	r.WriteString("README.md", "bob")
	bobs := r.CommitPush("signed by Bob")
	s.Trigger("test")
	testwait.For(t, "Bob's commit refused", rejected(s, bobs))

	s.SetCommits(both)
	testwait.For(t, "Bob's commit served once his key is trusted", statusServing(s, bobs))
	if st := s.Status(); st.RejectedCommit != "" || !strings.Contains(st.SignedBy, "Bob") {
		t.Fatalf("after reload: rejected %q, signed by %q", st.RejectedCommit, st.SignedBy)
	}
}
