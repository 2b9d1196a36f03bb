package githubapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otagit/otagit/config"
	"github.com/otagit/otagit/internal/clock"
	"github.com/otagit/otagit/internal/fakegithub"
)

const (
	testRepo  = "acme/fleet-config"
	testToken = "ghp_testtoken0123456789"
	afterSHA  = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"
)

// newTestClient returns a Client for gh, authenticated with testToken.
func newTestClient(t *testing.T, gh *fakegithub.Server) *Client {
	t.Helper()
	c, err := NewClient(ClientConfig{Token: testToken, BaseURL: gh.URL, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c
}

// seedReleases adds n releases "v1.0.N" to testRepo, oldest first; every
// third is a prerelease, the last one a draft. It returns them newest
// first, as ListReleases should.
func seedReleases(gh *fakegithub.Server, n int) []fakegithub.Release {
	var rels []fakegithub.Release
	for i := range n {
		r := fakegithub.Release{
			Tag:         fmt.Sprintf("v1.0.%d", i),
			Name:        fmt.Sprintf("Release 1.0.%d", i),
			Prerelease:  i%3 == 2,
			Draft:       i == n-1,
			PublishedAt: time.Date(2024, 5, 1, 12, i, 0, 0, time.UTC),
			Assets: []fakegithub.Asset{
				{Name: "lamp.bin", Data: []byte{0xE9, byte(i)}},
				{Name: "lamp.bin.sha256", Data: []byte("sum")},
			},
		}
		gh.AddRelease(testRepo, r)
		rels = append(rels, r)
	}
	slices.Reverse(rels)
	return rels
}

func TestClientListReleases(t *testing.T) {
	gh := fakegithub.New(t)
	gh.SetMaxPerPage(2) // 5 releases: 3 pages
	gh.RequireToken(testToken)
	want := seedReleases(gh, 5)
	c := newTestClient(t, gh)

	got, err := c.ListReleases(context.Background(), testRepo)
	if err != nil {
		t.Fatalf("ListReleases: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("ListReleases: got %d releases, want %d", len(got), len(want))
	}
	if n := gh.RequestsFor("/repos/" + testRepo + "/releases"); n != 3 {
		t.Errorf("requests: got %d, want 3 (one per page)", n)
	}
	ids := map[int64]bool{}
	for i, w := range want {
		g := got[i]
		t.Run(w.Tag, func(t *testing.T) {
			if g.Tag != w.Tag || g.Name != w.Name || g.Draft != w.Draft || g.Prerelease != w.Prerelease {
				t.Errorf("got %+v, want tag %q name %q draft %v prerelease %v", g, w.Tag, w.Name, w.Draft, w.Prerelease)
			}
			wantPublished := w.PublishedAt
			if w.Draft {
				wantPublished = time.Time{} // GitHub: null for drafts
			}
			if !g.PublishedAt.Equal(wantPublished) {
				t.Errorf("PublishedAt: got %v, want %v", g.PublishedAt, wantPublished)
			}
			if g.ID == 0 || ids[g.ID] {
				t.Errorf("ID: got %d, want a new non-zero id", g.ID)
			}
			ids[g.ID] = true
			if len(g.Assets) != len(w.Assets) {
				t.Fatalf("assets: got %d, want %d", len(g.Assets), len(w.Assets))
			}
			for j, a := range g.Assets {
				if a.Name != w.Assets[j].Name || a.Size != int64(len(w.Assets[j].Data)) || a.ID == 0 || a.UpdatedAt.IsZero() {
					t.Errorf("asset %d: got %+v, want name %q size %d, an id and updated_at", j, a, w.Assets[j].Name, len(w.Assets[j].Data))
				}
			}
		})
	}
}

func TestClientListReleasesETag(t *testing.T) {
	gh := fakegithub.New(t)
	gh.SetMaxPerPage(2)
	seedReleases(gh, 5)
	c := newTestClient(t, gh)
	ctx := context.Background()

	first, err := c.ListReleases(ctx, testRepo)
	if err != nil {
		t.Fatalf("ListReleases: %v", err)
	}
	if got := gh.NotModified(); got != 0 {
		t.Fatalf("304 answers after the first list: got %d, want 0", got)
	}
	second, err := c.ListReleases(ctx, testRepo)
	if err != nil {
		t.Fatalf("second ListReleases: %v", err)
	}
	if got, want := gh.NotModified(), 3; got != want {
		t.Errorf("304 answers after the second list: got %d, want %d (every page)", got, want)
	}
	if !equalReleases(first, second) {
		t.Errorf("second list from the cache differs:\ngot  %+v\nwant %+v", second, first)
	}
	for _, r := range gh.Log()[3:] {
		if r.IfNoneMatch == "" {
			t.Errorf("request %s?%s: no If-None-Match", r.Path, r.Query)
		}
	}

	// A change shows at once: GitHub's ETag changes with the content.
	gh.EditRelease(testRepo, "v1.0.3", func(r *fakegithub.Release) { r.Prerelease = true })
	third, err := c.ListReleases(ctx, testRepo)
	if err != nil {
		t.Fatalf("third ListReleases: %v", err)
	}
	if got := third[1]; got.Tag != "v1.0.3" || !got.Prerelease {
		t.Errorf("after the edit: got %+v, want v1.0.3 as a prerelease", got)
	}
}

func equalReleases(a, b []config.GitHubRelease) bool {
	return slices.EqualFunc(a, b, func(x, y config.GitHubRelease) bool {
		return x.ID == y.ID && x.Tag == y.Tag && x.Name == y.Name && x.Draft == y.Draft &&
			x.Prerelease == y.Prerelease && x.PublishedAt.Equal(y.PublishedAt) &&
			slices.EqualFunc(x.Assets, y.Assets, func(p, q config.GitHubAsset) bool {
				return p.ID == q.ID && p.Name == q.Name && p.Size == q.Size && p.UpdatedAt.Equal(q.UpdatedAt)
			})
	})
}

func TestClientReleaseByTag(t *testing.T) {
	gh := fakegithub.New(t)
	for _, tag := range []string{"v1.0.0", "lamp/v2.0.0", "odd#tag%", "v3.0.0-rc.1"} {
		gh.AddRelease(testRepo, fakegithub.Release{Tag: tag, Name: "name " + tag, Prerelease: strings.Contains(tag, "-rc")})
	}
	gh.AddRelease(testRepo, fakegithub.Release{Tag: "v9.9.9", Draft: true})
	c := newTestClient(t, gh)

	tests := []struct {
		tag            string
		wantNotFound   bool
		wantPrerelease bool
	}{
		{tag: "v1.0.0"},
		{tag: "lamp/v2.0.0"},
		{tag: "odd#tag%"},
		{tag: "v3.0.0-rc.1", wantPrerelease: true},
		{tag: "v0.0.1", wantNotFound: true},
		{tag: "v9.9.9", wantNotFound: true}, // a draft's tag does not exist yet
	}
	for _, tt := range tests {
		t.Run(tt.tag, func(t *testing.T) {
			got, err := c.ReleaseByTag(context.Background(), testRepo, tt.tag)
			if tt.wantNotFound {
				if !errors.Is(err, config.ErrReleaseNotFound) {
					t.Fatalf("ReleaseByTag: got %+v, %v; want ErrReleaseNotFound", got, err)
				}
				if !strings.Contains(err.Error(), testRepo) {
					t.Errorf("error %q does not name the repository", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReleaseByTag: %v", err)
			}
			if got.Tag != tt.tag || got.Name != "name "+tt.tag || got.Prerelease != tt.wantPrerelease {
				t.Errorf("got %+v, want tag %q, prerelease %v", got, tt.tag, tt.wantPrerelease)
			}
		})
	}
}

func TestClientOpenAsset(t *testing.T) {
	gh := fakegithub.New(t)
	gh.RequireToken(testToken)
	image := bytes.Repeat([]byte{0xE9, 0x03, 0x02, 0x20}, 64<<10) // 256 KiB
	gh.AddRelease(testRepo, fakegithub.Release{Tag: "v1.0.0", Assets: []fakegithub.Asset{
		{Name: "lamp.bin", Data: image},
		{Name: "notes.txt", Data: []byte("hello")},
	}})
	c := newTestClient(t, gh)
	ctx := context.Background()
	rel, err := c.ReleaseByTag(ctx, testRepo, "v1.0.0")
	if err != nil {
		t.Fatalf("ReleaseByTag: %v", err)
	}

	tests := []struct {
		name string
		id   int64
		want []byte
	}{
		{"image", rel.Assets[0].ID, image},
		{"text", rel.Assets[1].ID, []byte("hello")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(gh.Log())
			rc, err := c.OpenAsset(ctx, testRepo, tt.id)
			if err != nil {
				t.Fatalf("OpenAsset: %v", err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("content: got %d bytes, want %d bytes", len(got), len(tt.want))
			}
			reqs := gh.Log()[before:]
			if len(reqs) != 2 {
				t.Fatalf("requests: got %+v, want the asset API then the download", reqs)
			}
			if got, want := reqs[0].Status, http.StatusFound; got != want || reqs[0].Authorization != "Bearer "+testToken {
				t.Errorf("asset API request: got status %d, Authorization %q; want %d with the token", got, reqs[0].Authorization, want)
			}
			if got, want := reqs[1].Path, fmt.Sprintf("/download/%d/", tt.id); !strings.HasPrefix(got, want) || reqs[1].Status != http.StatusOK {
				t.Errorf("download request: got %s (%d), want %s... (200)", got, reqs[1].Status, want)
			}
		})
	}

	t.Run("unknown asset", func(t *testing.T) {
		_, err := c.OpenAsset(ctx, testRepo, 999999)
		if !errors.Is(err, config.ErrReleaseNotFound) {
			t.Errorf("OpenAsset: got %v, want ErrReleaseNotFound", err)
		}
	})
	t.Run("replaced asset", func(t *testing.T) {
		gh.EditRelease(testRepo, "v1.0.0", func(r *fakegithub.Release) { r.Assets[0].Data = []byte{0xE9, 0xFF} })
		_, err := c.OpenAsset(ctx, testRepo, rel.Assets[0].ID)
		if !errors.Is(err, config.ErrReleaseNotFound) {
			t.Errorf("OpenAsset of the replaced id: got %v, want ErrReleaseNotFound", err)
		}
		now, err := c.ReleaseByTag(ctx, testRepo, "v1.0.0")
		if err != nil {
			t.Fatalf("ReleaseByTag: %v", err)
		}
		if now.Assets[0].ID == rel.Assets[0].ID || !now.Assets[0].UpdatedAt.After(rel.Assets[0].UpdatedAt) {
			t.Errorf("replaced asset: got id %d updated %v, want a new id and a later updated_at than %d %v",
				now.Assets[0].ID, now.Assets[0].UpdatedAt, rel.Assets[0].ID, rel.Assets[0].UpdatedAt)
		}
		if now.Assets[1].ID != rel.Assets[1].ID {
			t.Errorf("unchanged asset: got id %d, want %d", now.Assets[1].ID, rel.Assets[1].ID)
		}
	})
}

// TestClientOpenAssetOtherHost puts the download on another host, as
// GitHub does: the redirect is followed, and the token does not go there.
func TestClientOpenAssetOtherHost(t *testing.T) {
	gh := fakegithub.New(t)
	gh.RequireToken(testToken)
	var (
		mu       sync.Mutex
		cdnAuths []string
	)
	cdn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		cdnAuths = append(cdnAuths, r.Header.Get("Authorization"))
		mu.Unlock()
		resp, err := http.Get(gh.URL + strings.TrimPrefix(r.URL.Path, "/"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	t.Cleanup(cdn.Close)
	gh.SetDownloadBaseURL(cdn.URL + "/")
	gh.AddRelease(testRepo, fakegithub.Release{Tag: "v1", Assets: []fakegithub.Asset{{Name: "a.bin", Data: []byte("payload")}}})
	c := newTestClient(t, gh)
	rel, err := c.ReleaseByTag(context.Background(), testRepo, "v1")
	if err != nil {
		t.Fatalf("ReleaseByTag: %v", err)
	}

	rc, err := c.OpenAsset(context.Background(), testRepo, rel.Assets[0].ID)
	if err != nil {
		t.Fatalf("OpenAsset: %v", err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != "payload" {
		t.Errorf("content: got %q, want %q", got, "payload")
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{""}; !slices.Equal(cdnAuths, want) {
		t.Errorf("Authorization headers at the download host: got %q, want %q (no token)", cdnAuths, want)
	}
}

// fakeT0 is when fake clocks of GitHub tests start. go-github keeps its
// own note of a primary rate limit, on the system clock; a time long past
// keeps that note out of the way, so that what a test sees is the Client's
// own holding off.
var fakeT0 = time.Date(2020, 1, 1, 12, 0, 0, 0, time.UTC)

func TestClientRateLimit(t *testing.T) {
	tests := []struct {
		name  string
		limit func(gh *fakegithub.Server, until time.Time)
	}{
		{"primary", (*fakegithub.Server).SetRateLimited},
		{"secondary", (*fakegithub.Server).SetSecondaryRateLimited},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// GitHub and the client share a fake clock: the limit ends
			// when the test says, and Until is exact.
			clk := clock.NewFake(fakeT0)
			gh := fakegithub.New(t)
			gh.SetClock(clk.Now)
			gh.AddRelease(testRepo, fakegithub.Release{Tag: "v1", Assets: []fakegithub.Asset{{Name: "a.bin", Data: []byte("x")}}})
			c, err := NewClient(ClientConfig{Token: testToken, BaseURL: gh.URL, Clock: clk, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			// The fake rounds up to a whole second, as X-RateLimit-Reset
			// and Retry-After have second precision.
			tt.limit(gh, fakeT0.Add(500*time.Millisecond))
			wantUntil := fakeT0.Add(time.Second)

			_, err = c.ListReleases(ctx, testRepo)
			answered := time.Now()
			if !errors.Is(err, ErrRateLimited) {
				t.Fatalf("ListReleases: got %v, want ErrRateLimited", err)
			}
			var rl *RateLimitedError
			if !errors.As(err, &rl) {
				t.Fatalf("ListReleases: got %T, want a *RateLimitedError in the chain", err)
			}
			// Primary: the reset GitHub names; secondary: Retry-After's
			// whole seconds from when GitHub answered.
			if !rl.Until.Equal(wantUntil) {
				t.Errorf("Until: got %v, want %v", rl.Until, wantUntil)
			}
			if got := c.RateLimitedUntil(); !got.Equal(rl.Until) {
				t.Errorf("RateLimitedUntil: got %v, want %v", got, rl.Until)
			}
			if !strings.HasPrefix(err.Error(), "list releases "+testRepo+": GitHub API rate limit exceeded until ") {
				t.Errorf("error: got %q, want it to say what, where and until when", err)
			}

			// Until the reset, nothing reaches GitHub.
			n := gh.Requests()
			calls := map[string]func() error{
				"ListReleases": func() error { _, err := c.ListReleases(ctx, testRepo); return err },
				"ReleaseByTag": func() error { _, err := c.ReleaseByTag(ctx, testRepo, "v1"); return err },
				"OpenAsset":    func() error { _, err := c.OpenAsset(ctx, testRepo, 1); return err },
				"SetStatus": func() error {
					return c.SetStatus(ctx, testRepo, afterSHA, "pending", "planning...", "otagit/validate")
				},
				"UpsertComment": func() error { _, err := c.UpsertComment(ctx, testRepo, 1, "<!-- marker -->", "x"); return err },
			}
			for name, call := range calls {
				if err := call(); !errors.Is(err, ErrRateLimited) {
					t.Errorf("%s while rate limited: got %v, want ErrRateLimited", name, err)
				}
			}
			if got := gh.Requests(); got != n {
				t.Errorf("requests while rate limited: got %d, want %d (none reached GitHub)", got-n, 0)
			}

			// A moment before the reset, still nothing; at the reset,
			// calls go through again.
			clk.Advance(time.Second - time.Millisecond)
			if _, err := c.ListReleases(ctx, testRepo); !errors.Is(err, ErrRateLimited) || gh.Requests() != n {
				t.Errorf("ListReleases 1ms before the reset: got %v after %d requests, want ErrRateLimited and none", err, gh.Requests()-n)
			}
			clk.Advance(time.Millisecond)
			if got := c.RateLimitedUntil(); !got.IsZero() {
				t.Errorf("RateLimitedUntil at the reset: got %v, want zero", got)
			}
			// go-github also holds off after a secondary limit, on the
			// system clock, for Retry-After (1 s) from before answered:
			// that has passed once answered is 1 s old.
			if tt.name == "secondary" {
				time.Sleep(time.Until(answered.Add(time.Second)))
			}
			if _, err := c.ListReleases(ctx, testRepo); err != nil {
				t.Fatalf("ListReleases after the reset: %v", err)
			}
		})
	}
}

func TestClientOutage(t *testing.T) {
	gh := fakegithub.New(t)
	gh.AddRelease(testRepo, fakegithub.Release{Tag: "v1", Assets: []fakegithub.Asset{{Name: "a.bin", Data: []byte("x")}}})
	c := newTestClient(t, gh)
	ctx := context.Background()
	gh.SetDown(true)

	tests := []struct {
		name, wantPrefix string
		call             func() error
	}{
		{"ListReleases", "list releases " + testRepo + ": ",
			func() error { _, err := c.ListReleases(ctx, testRepo); return err }},
		{"ReleaseByTag", "get release v1 " + testRepo + ": ",
			func() error { _, err := c.ReleaseByTag(ctx, testRepo, "v1"); return err }},
		{"OpenAsset", "open asset 2 " + testRepo + ": ",
			func() error { _, err := c.OpenAsset(ctx, testRepo, 2); return err }},
		{"SetStatus", "set status " + afterSHA[:12] + " " + testRepo + ": ",
			func() error { return c.SetStatus(ctx, testRepo, afterSHA, "success", "ok", "otagit/validate") }},
		{"UpsertComment", "upsert comment on #7 " + testRepo + ": ",
			func() error { _, err := c.UpsertComment(ctx, testRepo, 7, "<!-- marker -->", "x"); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil {
				t.Fatal("got no error from a server answering 502")
			}
			if errors.Is(err, ErrRateLimited) || errors.Is(err, config.ErrReleaseNotFound) {
				t.Errorf("got %v, want neither a rate limit nor not-found", err)
			}
			if !strings.HasPrefix(err.Error(), tt.wantPrefix) || !strings.Contains(err.Error(), "502") {
				t.Errorf("error: got %q, want %q... naming the 502", err, tt.wantPrefix)
			}
		})
	}
	if !c.RateLimitedUntil().IsZero() {
		t.Errorf("RateLimitedUntil after an outage: got %v, want zero", c.RateLimitedUntil())
	}

	gh.SetDown(false)
	if _, err := c.ListReleases(ctx, testRepo); err != nil {
		t.Errorf("ListReleases after the outage: %v", err)
	}
}

func TestClientNetworkError(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	c, err := NewClient(ClientConfig{BaseURL: dead.URL, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	_, err = c.ListReleases(context.Background(), testRepo)
	if err == nil || !strings.HasPrefix(err.Error(), "list releases "+testRepo+": ") {
		t.Errorf("ListReleases against a closed server: got %v, want a wrapped network error", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = c.ListReleases(ctx, testRepo)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("ListReleases with a canceled context: got %v, want context.Canceled", err)
	}
}

func TestClientBadRepo(t *testing.T) {
	gh := fakegithub.New(t)
	c := newTestClient(t, gh)
	ctx := context.Background()
	for _, repo := range []string{
		"", "acme", "/fw", "acme/", "acme/fw/extra", "acme/..", "./fw", "ac me/fw", "acme/fw?x=1",
		"acme/fw#frag", "https://github.com/acme/fw", strings.Repeat("a", 40) + "/fw", "acme/" + strings.Repeat("b", 101),
	} {
		t.Run(repo, func(t *testing.T) {
			_, err := c.ListReleases(ctx, repo)
			if !errors.Is(err, ErrInvalidRepo) {
				t.Errorf("ListReleases(%q): got %v, want ErrInvalidRepo", repo, err)
			}
			if err := c.SetStatus(ctx, repo, afterSHA, "success", "", "c"); !errors.Is(err, ErrInvalidRepo) {
				t.Errorf("SetStatus(%q): got %v, want ErrInvalidRepo", repo, err)
			}
		})
	}
	if n := gh.Requests(); n != 0 {
		t.Errorf("requests: got %d, want 0", n)
	}
	for _, repo := range []string{"acme/fw", "Acme-Corp/fleet.config", "a_b/c-d_e.f"} {
		if _, _, err := SplitRepo(repo); err != nil {
			t.Errorf("SplitRepo(%q): got %v, want nil", repo, err)
		}
	}
}

func TestClientBadToken(t *testing.T) {
	gh := fakegithub.New(t)
	gh.RequireToken("another token")
	c := newTestClient(t, gh)
	_, err := c.ListReleases(context.Background(), testRepo)
	if err == nil || errors.Is(err, ErrRateLimited) || !strings.Contains(err.Error(), "401") {
		t.Errorf("ListReleases with a bad token: got %v, want a 401 error", err)
	}
}

func TestNewClientBadBaseURL(t *testing.T) {
	for _, base := range []string{"api.github.com", "ftp://x/", "://"} {
		if _, err := NewClient(ClientConfig{BaseURL: base}); err == nil {
			t.Errorf("NewClient(BaseURL %q): got no error", base)
		}
	}
}

func TestClientTokenNotLogged(t *testing.T) {
	gh := fakegithub.New(t)
	gh.AddRelease(testRepo, fakegithub.Release{Tag: "v1", Assets: []fakegithub.Asset{{Name: "a.bin", Data: []byte("x")}}})
	var buf lockedBuffer
	c, err := NewClient(ClientConfig{Token: testToken, BaseURL: gh.URL,
		Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	ctx := context.Background()
	rel, err := c.ReleaseByTag(ctx, testRepo, "v1")
	if err != nil {
		t.Fatalf("ReleaseByTag: %v", err)
	}
	if rc, err := c.OpenAsset(ctx, testRepo, rel.Assets[0].ID); err == nil {
		rc.Close()
	}
	gh.SetRateLimited(time.Now().Add(time.Hour))
	c.ListReleases(ctx, testRepo)

	logs := buf.String()
	if !strings.Contains(logs, "github request") || !strings.Contains(logs, "rate limit") {
		t.Errorf("logs: got %q, want request records and a rate limit warning", logs)
	}
	if strings.Contains(logs, testToken) {
		t.Errorf("logs contain the token:\n%s", logs)
	}
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestClientSetStatus(t *testing.T) {
	gh := fakegithub.New(t)
	c := newTestClient(t, gh)
	ctx := context.Background()
	long := strings.Repeat("é", 200)

	tests := []struct {
		state, description string
		wantErr            bool
		want               fakegithub.Status
	}{
		{state: "pending", description: "planning...",
			want: fakegithub.Status{State: "pending", Description: "planning...", Context: "otagit/validate"}},
		{state: "success", description: "3 devices change",
			want: fakegithub.Status{State: "success", Description: "3 devices change", Context: "otagit/validate"}},
		{state: "failure", description: long,
			want: fakegithub.Status{State: "failure", Description: strings.Repeat("é", 139) + "…", Context: "otagit/validate"}},
		{state: "error", description: "",
			want: fakegithub.Status{State: "error", Context: "otagit/validate"}},
		{state: "done", wantErr: true},
		{state: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.state, func(t *testing.T) {
			before := len(gh.Statuses(testRepo, afterSHA))
			err := c.SetStatus(ctx, testRepo, afterSHA, tt.state, tt.description, "otagit/validate")
			got := gh.Statuses(testRepo, afterSHA)[before:]
			if tt.wantErr {
				if err == nil || len(got) != 0 {
					t.Errorf("SetStatus: got %v and statuses %+v, want an error and none", err, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("SetStatus: %v", err)
			}
			if len(got) != 1 || got[0] != tt.want {
				t.Errorf("statuses: got %+v, want [%+v]", got, tt.want)
			}
		})
	}

	t.Run("target URL", func(t *testing.T) {
		st := Status{State: "success", Description: "ok", Context: "otagit/validate", TargetURL: "https://ota.example/api/status"}
		if err := c.CreateStatus(ctx, testRepo, "abc", st); err != nil {
			t.Fatalf("CreateStatus: %v", err)
		}
		want := fakegithub.Status{State: "success", Description: "ok", Context: "otagit/validate", TargetURL: "https://ota.example/api/status"}
		if got := gh.Statuses(testRepo, "abc"); len(got) != 1 || got[0] != want {
			t.Errorf("statuses: got %+v, want [%+v]", got, want)
		}
	})
}

func TestClientUpsertComment(t *testing.T) {
	gh := fakegithub.New(t)
	gh.SetMaxPerPage(2)
	c := newTestClient(t, gh)
	ctx := context.Background()
	const pr = 12
	// Other people's comments come first, over more than one page.
	for i := range 3 {
		gh.AddComment(testRepo, pr, fmt.Sprintf("looks good %d", i))
	}

	steps := []struct {
		name, body, wantBody string
	}{
		{"create", "<!-- marker -->" + "\nplan 1", "<!-- marker -->" + "\nplan 1"},
		{"edit", "<!-- marker -->" + "\nplan 2", "<!-- marker -->" + "\nplan 2"},
		{"marker added if missing", "plan 3", "<!-- marker -->" + "\nplan 3"},
		{"edit again", "<!-- marker -->" + "\nplan 4", "<!-- marker -->" + "\nplan 4"},
	}
	var firstID int64
	for i, st := range steps {
		id, err := c.UpsertComment(ctx, testRepo, pr, "<!-- marker -->", st.body)
		if err != nil {
			t.Fatalf("%s: UpsertComment: %v", st.name, err)
		}
		if i == 0 {
			firstID = id
		}
		if id != firstID {
			t.Errorf("%s: id: got %d, want %d (the same comment)", st.name, id, firstID)
		}
		got := gh.Comments(testRepo, pr)
		if len(got) != 4 {
			t.Fatalf("%s: comments: got %d, want 4 (3 others and ours)", st.name, len(got))
		}
		if want := (fakegithub.Comment{ID: firstID, Body: st.wantBody}); got[3] != want {
			t.Errorf("%s: our comment: got %+v, want %+v", st.name, got[3], want)
		}
	}

	t.Run("deleted by someone", func(t *testing.T) {
		gh.DeleteComment(testRepo, firstID)
		id, err := c.UpsertComment(ctx, testRepo, pr, "<!-- marker -->", "plan 5")
		if err != nil {
			t.Fatalf("UpsertComment: %v", err)
		}
		got := gh.Comments(testRepo, pr)
		if id == firstID || len(got) != 4 || got[3] != (fakegithub.Comment{ID: id, Body: "<!-- marker -->" + "\nplan 5"}) {
			t.Errorf("after deleting ours: got id %d, comments %+v; want one new comment", id, got)
		}
	})

	t.Run("concurrent", func(t *testing.T) {
		const n, other = 8, 14
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				if _, err := c.UpsertComment(ctx, testRepo, other, "<!-- marker -->", fmt.Sprintf("plan %d", i)); err != nil {
					t.Errorf("UpsertComment: %v", err)
				}
			})
		}
		wg.Wait()
		if got := gh.Comments(testRepo, other); len(got) != 1 {
			t.Errorf("comments after %d concurrent upserts: got %d, want 1", n, len(got))
		}
	})

	t.Run("bad input", func(t *testing.T) {
		if _, err := c.UpsertComment(ctx, testRepo, 0, "<!-- marker -->", "x"); err == nil {
			t.Error("pull request 0: got no error")
		}
		if _, err := c.UpsertComment(ctx, testRepo, 1, "", "x"); err == nil {
			t.Error("empty marker: got no error")
		}
	})
}

// TestUpsertCommentIgnoresOthersMarkers: a comment someone else wrote with
// the marker in it is neither edited nor allowed to stop the plan.
func TestUpsertCommentIgnoresOthersMarkers(t *testing.T) {
	gh := fakegithub.New(t)
	c := newTestClient(t, gh)
	ctx := context.Background()
	theirs := gh.AddComment(testRepo, 9, "<!-- otagit-plan --> totally the plan")
	id, err := c.UpsertComment(ctx, testRepo, 9, "<!-- otagit-plan -->", "plan one")
	if err != nil {
		t.Fatal(err)
	}
	if id == theirs {
		t.Fatal("edited someone else's comment")
	}
	id2, err := c.UpsertComment(ctx, testRepo, 9, "<!-- otagit-plan -->", "plan two")
	if err != nil || id2 != id {
		t.Fatalf("second upsert: id %d (%v), want %d", id2, err, id)
	}
	cs := gh.Comments(testRepo, 9)
	if len(cs) != 2 || cs[0].Body != "<!-- otagit-plan --> totally the plan" || !strings.Contains(cs[1].Body, "plan two") {
		t.Errorf("comments: %+v", cs)
	}
}
