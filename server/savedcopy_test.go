package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/otagit/otagit/gitstore"
	"github.com/otagit/otagit/internal/testwait"
)

// TestRestartDamagedCloneRemoteDown is fault 3 of issue 12 as devices see
// it: restarted with the clone's packs truncated and the remote gone, the
// server gives every device the answer it gave before (304 on the
// release served, the image's bytes to one behind it), says in
// /api/status that it serves from the saved copy, and serves the new head
// once the remote is back.
func TestRestartDamagedCloneRemoteDown(t *testing.T) {
	repo, commit := starter(t, 8<<10)
	data := t.TempDir()
	configure := func(c *Config) { c.Store.DataDir = data }
	srv := start(t, repo.Bare, configure)
	waitServing(t, srv.addrs[0], commit)
	current, image := deviceAnswers(t, srv.addrs[0])
	if current != http.StatusNotModified || len(image) != 8<<10 {
		t.Fatalf("before the restart: %d on 1.2.0, %d bytes to 1.1.0; want 304 and the image", current, len(image))
	}
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
	// Pushed while the server is stopped: the fetch that follows cloning
	// again, whenever it comes, finds it.
	repo.WriteString("README.md", "next")
	next := repo.CommitPush("next")

	packs, _ := filepath.Glob(filepath.Join(data, "repo.git", "objects", "pack", "*.pack"))
	if len(packs) == 0 {
		t.Fatal("no pack in the clone")
	}
	for _, p := range packs {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(p, st.Size()/2); err != nil {
			t.Fatal(err)
		}
	}
	away := repo.Bare + ".away"
	if err := os.Rename(repo.Bare, away); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	srv = start(t, repo.Bare, func(c *Config) {
		configure(c)
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(logs.String())
		}
	})
	waitServing(t, srv.addrs[0], commit)
	again, imageAgain := deviceAnswers(t, srv.addrs[0])
	if again != current || !bytes.Equal(imageAgain, image) {
		t.Errorf("after the restart: %d on 1.2.0, %d bytes to 1.1.0 (same bytes: %v); want %d and the image",
			again, len(imageAgain), bytes.Equal(imageAgain, image), current)
	}
	if st := apiStatus(t, srv.addrs[0]); st.FromSavedCopy == "" || st.RejectedCommit != "" || len(st.Problems) != 0 {
		t.Errorf("status: from saved copy %q, rejected %q, problems %v", st.FromSavedCopy, st.RejectedCommit, st.Problems)
	}

	if err := os.Rename(away, repo.Bare); err != nil {
		t.Fatal(err)
	}
	waitServing(t, srv.addrs[0], next)
	testwait.For(t, "the status clear", func() bool {
		st := apiStatus(t, srv.addrs[0])
		return st.FromSavedCopy == "" && st.StorageError == ""
	})
}

// deviceAnswers asks as a smart lamp on the release served, then as one
// on the release before it, and returns the status of the first answer
// and the body of the second.
func deviceAnswers(t *testing.T, addr string) (current int, image []byte) {
	t.Helper()
	ask := func(version string) (int, []byte) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := io.WriteString(conn, lampRequest("18:FE:34:A1:00:01", version)); err != nil {
			t.Fatal(err)
		}
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		return res.StatusCode, body
	}
	current, _ = ask("1.2.0")
	_, image = ask("1.1.0")
	return current, image
}

func apiStatus(t *testing.T, addr string) gitstore.Status {
	t.Helper()
	res, err := http.Get("http://" + addr + "/api/status")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var st gitstore.Status
	if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}
