package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	repotemplate "github.com/otagit/otagit/firmware-repo-template"
	"github.com/otagit/otagit/internal/fakegithub"
	"github.com/otagit/otagit/internal/testrepo"
	"github.com/otagit/otagit/server"
	"github.com/otagit/otagit/webhook"
)

// startGitHubServer is startServer with GitHub access to fake; data, if
// not "", is the data directory (to restart on the same one).
func startGitHubServer(t testing.TB, repo string, fake *fakegithub.Server, log *slog.Logger, data ...string) *testServer {
	t.Helper()
	return startServer(t, repo, log, func(c *server.Config) {
		c.GitHubToken, c.GitHubAPI = "gh-t0ken", fake.URL
		if len(data) > 0 {
			c.Store.DataDir = data[0]
		}
	})
}

func (ts *testServer) releaseHook(t testing.TB, action, repo, tag string) int {
	body := []byte(fmt.Sprintf(`{"action":%q,"release":{"id":1,"tag_name":%q,"draft":false,"prerelease":false},"repository":{"full_name":%q}}`, action, tag, repo))
	return ts.webhook(t, "release", body, webhook.Sign(ts.secret, body))
}

func (ts *testServer) pullRequestHook(t testing.TB, action, repo string, number int, baseSHA, headSHA string) int {
	body := []byte(fmt.Sprintf(`{"action":%q,"number":%d,"pull_request":{"number":%d,"base":{"ref":"main","sha":%q,"repo":{"full_name":%q}},"head":{"ref":"change","sha":%q,"repo":{"full_name":%q}}},"repository":{"full_name":%q}}`,
		action, number, number, baseSHA, repo, headSHA, repo, repo))
	return ts.webhook(t, "pull_request", body, webhook.Sign(ts.secret, body))
}

const deskLampPlatform = `chip = "esp32c3"
description = "desk lamp, firmware released on GitHub"

[github]
repo = "acme/desk-lamp"
asset = "desk-lamp-*.bin"
tag_prefix = "desk-lamp-v"
`

func TestGitHubReleasesEndToEnd(t *testing.T) {
	fake := fakegithub.New(t)
	fake.RequireToken("gh-t0ken")
	repo := testrepo.New(t)
	repo.WriteFS(repotemplate.FS())
	repo.WriteString("platforms/desk-lamp.toml", deskLampPlatform)
	repo.WriteString("devices/desks.toml", "[[device]]\nmac = \"84:F7:03:00:00:01\"\nplatform = \"desk-lamp\"\n\n[[device]]\nmac = \"84:F7:03:00:00:02\"\nplatform = \"desk-lamp\"\nchannel = \"beta\"\n")
	first := repo.CommitPush("desk lamps follow GitHub releases")
	var logs syncBuffer
	ts := startGitHubServer(t, repo.Bare, fake, slog.New(slog.NewTextHandler(&logs, nil)))
	waitUntil(t, "first commit", func() bool { return ts.status(t).Commit == first })

	stable, beta := "84:F7:03:00:00:01", "84:F7:03:00:00:02"
	if res, _ := ts.deviceGet(t, "/update", esp32(stable, "0.9.0")); res.StatusCode != 304 {
		t.Fatalf("before any release: got %d, want 304", res.StatusCode)
	}

	// Publishing a release on GitHub + its webhook: served.
	img := testrepo.Image(t, "esp32c3", "desk-lamp", "1.0.0", 64<<10)
	fake.AddRelease("acme/desk-lamp", fakegithub.Release{Tag: "desk-lamp-v1.0.0", PublishedAt: time.Now(),
		Assets: []fakegithub.Asset{{Name: "desk-lamp-1.0.0.bin", Data: img}, {Name: "notes.txt", Data: []byte("hi")}}})
	start := time.Now()
	if code := ts.releaseHook(t, "published", "acme/desk-lamp", "desk-lamp-v1.0.0"); code != http.StatusAccepted {
		t.Fatalf("release webhook: %d", code)
	}
	// The server does not poll here: only the webhook can bring the
	// release. (How fast is logged, not checked: a loaded machine is slow.)
	waitUntil(t, "GitHub release served", func() bool {
		res, body := ts.deviceGet(t, "/update", esp32(stable, "0.9.0"))
		return res.StatusCode == 200 && bytes.Equal(body, img)
	})
	t.Logf("GitHub release published + webhook -> served: %v", time.Since(start))

	// A GitHub pre-release reaches the beta device only.
	pre := testrepo.Image(t, "esp32c3", "desk-lamp", "1.1.0", 64<<10)
	fake.AddRelease("acme/desk-lamp", fakegithub.Release{Tag: "desk-lamp-v1.1.0", Prerelease: true, PublishedAt: time.Now(),
		Assets: []fakegithub.Asset{{Name: "desk-lamp-1.1.0.bin", Data: pre}}})
	ts.releaseHook(t, "prereleased", "acme/desk-lamp", "desk-lamp-v1.1.0")
	waitUntil(t, "pre-release to beta", func() bool {
		res, body := ts.deviceGet(t, "/update", esp32(beta, "1.0.0"))
		return res.StatusCode == 200 && bytes.Equal(body, pre)
	})
	if res, _ := ts.deviceGet(t, "/update", esp32(stable, "1.0.0")); res.StatusCode != 304 {
		t.Errorf("stable device offered a GitHub pre-release: got %d, want 304", res.StatusCode)
	}
	// Drafts are never served.
	fake.AddRelease("acme/desk-lamp", fakegithub.Release{Tag: "desk-lamp-v2.0.0", Draft: true,
		Assets: []fakegithub.Asset{{Name: "desk-lamp-2.0.0.bin", Data: testrepo.Image(t, "esp32c3", "desk-lamp", "2.0.0", 4096)}}})

	// Deleting the release withdraws it.
	fake.DeleteRelease("acme/desk-lamp", "desk-lamp-v1.0.0")
	ts.releaseHook(t, "deleted", "acme/desk-lamp", "desk-lamp-v1.0.0")
	waitUntil(t, "release withdrawn", func() bool {
		res, _ := ts.deviceGet(t, "/update", esp32(stable, "0.9.0"))
		return res.StatusCode == 304
	})

	// A pinned asset whose SHA-256 does not match is rejected; the last
	// good commit keeps serving.
	good := ts.status(t).Commit
	fw := testrepo.Image(t, "esp32", "weather-station", "2.2.0", 32<<10)
	fake.AddRelease("acme/station", fakegithub.Release{Tag: "v2.2.0", PublishedAt: time.Now(),
		Assets: []fakegithub.Asset{{Name: "station.bin", Data: fw}}})
	sum := sha256.Sum256(fw)
	wrong := strings.Repeat("0", 64)
	platform := mustRead(t, repo, "platforms/weather-station.toml")
	repo.WriteString("platforms/weather-station.toml", platform+"\n[[release]]\nversion = \"2.2.0\"\ngithub = \"acme/station\"\ntag = \"v2.2.0\"\nasset = \"station.bin\"\nsha256 = \""+wrong+"\"\n")
	bad := repo.CommitPush("weather-station 2.2.0 from GitHub, wrong checksum")
	ts.push(t, bad)
	waitUntil(t, "wrong sha256 rejected", func() bool { return ts.status(t).RejectedCommit == bad })
	st := ts.status(t)
	if st.Commit != good || len(st.Problems) != 1 || !strings.Contains(st.Problems[0].String(), "has SHA-256 "+hex.EncodeToString(sum[:])+", not "+wrong) {
		t.Errorf("status after wrong sha256: serving %s (want %s), problems %v", st.Commit, good, st.Problems)
	}
	if res, _ := ts.deviceGet(t, "/update", esp32("24:0A:C4:B2:00:01", "2.1.0")); res.StatusCode != 304 {
		t.Errorf("station offered an unverified asset: %d", res.StatusCode)
	}
	// The right checksum is served.
	repo.WriteString("platforms/weather-station.toml", platform+"\n[[release]]\nversion = \"2.2.0\"\ngithub = \"acme/station\"\ntag = \"v2.2.0\"\nasset = \"station.bin\"\nsha256 = \""+hex.EncodeToString(sum[:])+"\"\n")
	fixed := repo.CommitPush("right checksum")
	ts.push(t, fixed)
	waitUntil(t, "pinned asset served", func() bool {
		res, body := ts.deviceGet(t, "/update", esp32("24:0A:C4:B2:00:01", "2.1.0"))
		return res.StatusCode == 200 && bytes.Equal(body, fw)
	})

	// GitHub down: the server keeps serving and says why.
	fake.SetDown(true)
	ts.releaseHook(t, "edited", "acme/desk-lamp", "desk-lamp-v1.1.0")
	waitUntil(t, "GitHub error in status", func() bool { return strings.Contains(ts.status(t).LastError, "GitHub") })
	if res, body := ts.deviceGet(t, "/update", esp32("24:0A:C4:B2:00:01", "2.1.0")); res.StatusCode != 200 || !bytes.Equal(body, fw) {
		t.Errorf("GitHub down: device got %d", res.StatusCode)
	}
	fake.SetDown(false)
	if strings.Contains(logs.String(), "gh-t0ken") {
		t.Error("the GitHub token was logged")
	}
}

func TestPullRequestReview(t *testing.T) {
	fake := fakegithub.New(t)
	repo := testrepo.New(t)
	repo.WriteFS(repotemplate.FS())
	base := repo.CommitPush("starter config")
	ts := startGitHubServer(t, repo.Bare, fake, slog.New(slog.NewTextHandler(io.Discard, nil)))
	waitUntil(t, "first commit", func() bool { return ts.status(t).Commit == base })

	// The pull request removes the office floor lamp.
	office := mustRead(t, repo, "devices/office.toml")
	repo.WriteString("devices/office.toml", office[:strings.Index(office, "[[device]]\nmac = \"18:FE:34:A1:00:02\"")])
	head := repo.Commit("retire the floor lamp")
	repo.PushTo("refs/pull/7/head")
	if code := ts.pullRequestHook(t, "opened", "acme/fleet", 7, base, head); code != http.StatusAccepted {
		t.Fatalf("pull_request webhook: %d", code)
	}
	waitUntil(t, "plan comment", func() bool { return len(fake.Comments("acme/fleet", 7)) == 1 })
	c := fake.Comments("acme/fleet", 7)[0].Body
	if n := strings.Count(c, "<!-- otagit-plan -->"); n != 1 {
		t.Errorf("marker appears %d times, want 1", n)
	}
	for _, want := range []string{
		"<!-- otagit-plan -->",
		"1 device changes; whitelist +0 -1",
		"| office floor lamp | `18:FE:34:A1:00:02` | smart-lamp | 1.1.0 | no longer allowed |",
		"- removed `18:FE:34:A1:00:02` office floor lamp (smart-lamp)",
	} {
		if !strings.Contains(c, want) {
			t.Errorf("comment lacks %q:\n%s", want, c)
		}
	}
	waitUntil(t, "success status", func() bool {
		st := fake.Statuses("acme/fleet", head)
		return len(st) > 0 && st[len(st)-1].State == "success"
	})
	if st := fake.Statuses("acme/fleet", head); st[0].State != "pending" || st[len(st)-1].Context != "otagit/validate" {
		t.Errorf("statuses: %+v", st)
	}

	// A later push to the pull request breaks the config: failure status,
	// and the same comment is updated, not a second one added.
	repo.WriteString("devices/office.toml", "[[device]]\nmac = \"18:FE:34:A1:00:01\"\nplatform = \"toaster\"\n")
	head2 := repo.Commit("oops")
	repo.PushTo("refs/pull/7/head")
	ts.pullRequestHook(t, "synchronize", "acme/fleet", 7, base, head2)
	waitUntil(t, "failure status", func() bool {
		st := fake.Statuses("acme/fleet", head2)
		return len(st) > 0 && st[len(st)-1].State == "failure"
	})
	waitUntil(t, "comment update", func() bool {
		return strings.Contains(fake.Comments("acme/fleet", 7)[0].Body, "would be refused")
	})
	comments := fake.Comments("acme/fleet", 7)
	if len(comments) != 1 {
		t.Fatalf("comments: got %d, want 1 updated in place", len(comments))
	}
	if !strings.Contains(comments[0].Body, "This config would be refused") || !strings.Contains(comments[0].Body, `unknown platform "toaster"`) {
		t.Errorf("updated comment:\n%s", comments[0].Body)
	}
	st := fake.Statuses("acme/fleet", head2)
	if !strings.Contains(st[len(st)-1].Description, "1 config errors") {
		t.Errorf("failure description: %q", st[len(st)-1].Description)
	}
	// The served commit did not change.
	if got := ts.status(t).Commit; got != base {
		t.Errorf("a pull request changed what is served: %s", got)
	}
}

// TestGitHubOutage: with GitHub down, a restarted server serves the
// releases it last saw, and a commit that pauses a platform is served.
func TestGitHubOutage(t *testing.T) {
	fake := fakegithub.New(t)
	repo := testrepo.New(t)
	repo.WriteFS(repotemplate.FS())
	repo.WriteString("platforms/desk-lamp.toml", deskLampPlatform)
	repo.WriteString("devices/desks.toml", "[[device]]\nmac = \"84:F7:03:00:00:01\"\nplatform = \"desk-lamp\"\n")
	img := testrepo.Image(t, "esp32c3", "desk-lamp", "1.0.0", 32<<10)
	fake.AddRelease("acme/desk-lamp", fakegithub.Release{Tag: "desk-lamp-v1.0.0", PublishedAt: time.Now(),
		Assets: []fakegithub.Asset{{Name: "desk-lamp-1.0.0.bin", Data: img}}})
	first := repo.CommitPush("desk lamps")
	data := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ts := startGitHubServer(t, repo.Bare, fake, log, data)
	lamp := "84:F7:03:00:00:01"
	served := func(ts *testServer) bool {
		res, body := ts.deviceGet(t, "/update", esp32(lamp, "0.9.0"))
		return res.StatusCode == 200 && bytes.Equal(body, img)
	}
	waitUntil(t, "GitHub release served", func() bool { return served(ts) })
	ts.stop()

	fake.SetDown(true)
	ts = startGitHubServer(t, repo.Bare, fake, log, data)
	waitUntil(t, "restart with GitHub down", func() bool { return ts.status(t).Commit == first })
	if !served(ts) {
		t.Fatal("after a restart with GitHub down, the release last seen is not served")
	}
	waitUntil(t, "degraded status", func() bool { return strings.Contains(ts.status(t).LastError, "degraded") })

	// The kill switch works during the outage.
	repo.WriteString("platforms/desk-lamp.toml", strings.Replace(deskLampPlatform, "[github]", "paused = true\n\n[github]", 1))
	paused := repo.CommitPush("pause desk lamps")
	ts.push(t, paused)
	waitUntil(t, "paused commit served during the outage", func() bool { return ts.status(t).Commit == paused })
	if res, _ := ts.deviceGet(t, "/update", esp32(lamp, "0.9.0")); res.StatusCode != 304 {
		t.Errorf("paused platform during a GitHub outage: got %d, want 304", res.StatusCode)
	}
}
