package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	repotemplate "github.com/otagit/otagit/firmware-repo-template"
	"github.com/otagit/otagit/internal/fakegithub"
	"github.com/otagit/otagit/internal/testrepo"
	"github.com/otagit/otagit/server"
)

// TestArtifactCollectionEndToEnd: a GitHub asset no kept snapshot
// references any more is collected, and a revert that needs it again has
// it downloaded again and served.
func TestArtifactCollectionEndToEnd(t *testing.T) {
	fake := fakegithub.New(t)
	img := testrepo.Image(t, "esp32c3", "desk-lamp", "1.0.0", 64<<10)
	fake.AddRelease("acme/desk-lamp", fakegithub.Release{Tag: "desk-lamp-v1.0.0", PublishedAt: time.Now(),
		Assets: []fakegithub.Asset{{Name: "desk-lamp-1.0.0.bin", Data: img}}})
	sum := sha256.Sum256(img)
	cached := filepath.Join("artifacts", hex.EncodeToString(sum[:]))
	const desks = "[[device]]\nmac = \"84:F7:03:00:00:01\"\nplatform = \"desk-lamp\"\n"

	repo := testrepo.New(t)
	repo.WriteFS(repotemplate.FS())
	repo.WriteString("platforms/desk-lamp.toml", deskLampPlatform)
	repo.WriteString("devices/desks.toml", desks)
	first := repo.CommitPush("desk lamps follow GitHub releases")
	data := t.TempDir()
	ts := startServer(t, repo.Bare, slog.New(slog.NewTextHandler(io.Discard, nil)), func(c *server.Config) {
		c.GitHubAPI, c.Store.DataDir, c.Store.KeepSnapshots = fake.URL, data, 2
	})
	waitUntil(t, "first commit", func() bool { return ts.status(t).Commit == first })
	lamp := esp32("84:F7:03:00:00:01", "0.9.0")
	if res, body := ts.deviceGet(t, "/update", lamp); res.StatusCode != 200 || !bytes.Equal(body, img) {
		t.Fatalf("GitHub asset: got %d, %d bytes", res.StatusCode, len(body))
	}
	if _, err := os.Stat(filepath.Join(data, cached)); err != nil {
		t.Fatalf("asset not in the cache: %v", err)
	}
	downloads := fake.RequestsFor("/download/")

	// Two commits without the desk lamps: no kept snapshot references the
	// asset any more.
	repo.Remove("platforms/desk-lamp.toml")
	repo.Remove("devices/desks.toml")
	for _, msg := range []string{"drop desk lamps", "README"} {
		if msg == "README" {
			repo.WriteString("README.md", "fleet config\n")
		}
		c := repo.CommitPush(msg)
		ts.push(t, c)
		waitUntil(t, msg, func() bool { return ts.status(t).Commit == c })
	}
	if _, err := os.Stat(filepath.Join(data, cached)); !os.IsNotExist(err) {
		t.Fatalf("asset after two snapshots without it: stat error %v, want not exist", err)
	}
	st := ts.status(t).Artifacts
	if st.Collected < 1 || st.CollectedBytes < int64(len(img)) || st.LastGCAt.IsZero() || st.Files == 0 {
		t.Errorf("status artifacts: got %+v, want the asset collected", st)
	}

	// The revert needs the asset again: downloaded once more and served.
	repo.WriteString("platforms/desk-lamp.toml", deskLampPlatform)
	repo.WriteString("devices/desks.toml", desks)
	back := repo.CommitPush(`Revert "drop desk lamps"`)
	ts.push(t, back)
	waitUntil(t, "revert", func() bool { return ts.status(t).Commit == back })
	if res, body := ts.deviceGet(t, "/update", lamp); res.StatusCode != 200 || !bytes.Equal(body, img) {
		t.Errorf("after the revert: got %d, %d bytes; want 200 with the asset", res.StatusCode, len(body))
	}
	if got := fake.RequestsFor("/download/"); got != downloads+1 {
		t.Errorf("asset downloads: got %d, want %d", got, downloads+1)
	}
}
