package gitstore

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport/client"

	"github.com/otagit/otagit/internal/testrepo"
	"github.com/otagit/otagit/internal/testwait"
)

// withUploadPack serves local remotes, until the test ends, with an
// upload-pack that is the shell script body (its arguments are those of
// git-upload-pack), as a wrapper on PATH would be.
func withUploadPack(t *testing.T, body string) {
	t.Helper()
	real, err := exec.LookPath("git")
	if err != nil {
		t.Skip("git is not installed: the fault is in running Git's upload-pack")
	}
	script := filepath.Join(t.TempDir(), "git-upload-pack")
	body = strings.ReplaceAll(body, "GIT", real)
	if err := os.WriteFile(script, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	client.InstallProtocol("file", &uploadPackTransport{bin: script})
	t.Cleanup(func() { client.InstallProtocol("file", LocalTransport(os.Getenv(inProcessEnv) == "1")) })
}

// TestFetchEndsWhenUploadPackBlocks is fault 2 of issue 12: an upload-pack
// that never answers, or that blocks writing to a pipe the fetch no
// longer reads (as after the fetch failed writing a full disk), and keeps
// a child holding its pipes, must not keep a fetch from ending within its
// timeout.
func TestFetchEndsWhenUploadPackBlocks(t *testing.T) {
	r := testrepo.New(t)
	r.WriteString("a.txt", "one")
	head := r.CommitPush("one")
	for _, tc := range []struct {
		name, body string
		ok         bool
	}{
		// sleep is a child of the shell: killing the shell alone would
		// leave the pipes open.
		{"never answers", `sleep 1000`, false},
		{"answers then blocks writing", `GIT upload-pack "$@"; yes`, true},
		{"blocks after refs", `(GIT upload-pack --advertise-refs "$@"; sleep 1000)`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			withUploadPack(t, tc.body)
			repo, err := openRepo(t.TempDir(), Remote{URL: r.Bare})
			if err != nil {
				t.Fatal(err)
			}
			// A fetch that succeeds gets all the time it needs: what is
			// checked is that it ends although upload-pack does not.
			ctx, cancel := context.WithCancel(t.Context())
			if !tc.ok {
				ctx, cancel = context.WithTimeout(t.Context(), 300*time.Millisecond)
			}
			defer cancel()
			done := make(chan error, 1)
			go func() {
				got, err := fetch(ctx, repo, Remote{URL: r.Bare})
				if err == nil && got.String() != head {
					err = io.ErrUnexpectedEOF
				}
				done <- err
			}()
			err = testwait.Recv(t, "the fetch to end", done)
			switch {
			case tc.ok && err != nil:
				t.Fatalf("fetch: %v", err)
			case !tc.ok && (err == nil || !strings.Contains(err.Error(), "deadline exceeded")):
				t.Fatalf("fetch: %v; want the timeout", err)
			}
		})
	}
}

// TestStoreShutdownWithBlockedFetch is fault 2 at the Store: a sync whose
// upload-pack hangs fails at FetchTimeout, is retried, and Run returns at
// once when stopped during one.
func TestStoreShutdownWithBlockedFetch(t *testing.T) {
	r := testrepo.New(t)
	good := pushFiles(r, validFiles(t), "valid")
	withUploadPack(t, `sleep 1000`)
	s, err := New(Options{
		Remote:       Remote{URL: r.Bare},
		DataDir:      t.TempDir(),
		FetchTimeout: 200 * time.Millisecond,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := make(chan error, 1)
	go func() { ran <- s.Run(ctx) }()
	testwait.For(t, "a fetch to time out", func() bool { return strings.Contains(s.Status().LastError, "deadline exceeded") })
	s.Trigger("test")
	// A fetch is under way, or about to be: stopping ends it.
	cancel()
	if err := testwait.Recv(t, "Run to return", ran); err != nil {
		t.Fatal(err)
	}

	// Nothing was wedged: with upload-pack answering, the next Store syncs.
	withUploadPack(t, `exec GIT upload-pack "$@"`)
	s2 := startStore(t, r, t.TempDir())
	testwait.For(t, "the commit served", serving(s2, good))
}

// TestStoppedReadSaysTimeout is the cause of a flake of
// TestFetchEndsWhenUploadPackBlocks: when the killed upload-pack's end of
// the pipe closed before ours, the read saw a clean EOF, which go-git
// took for an empty answer ("empty packfile") instead of the timeout.
func TestStoppedReadSaysTimeout(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	r := &stoppingReadCloser{ctx: ctx, r: strings.NewReader("")}
	if _, err := r.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read before the end: %v, want io.EOF", err)
	}
	cancel()
	if _, err := r.Read(make([]byte, 1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("read after the end: %v, want context.Canceled", err)
	}
}
