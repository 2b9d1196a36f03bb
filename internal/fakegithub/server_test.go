package fakegithub

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"
)

const repo = "acme/fw"

// newGitHub returns a go-github client for s.
func newGitHub(t *testing.T, s *Server) *github.Client {
	t.Helper()
	gh := github.NewClient(nil)
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	gh.BaseURL = u
	return gh
}

// do sends a request to the server and returns the response with its
// body read.
func do(t *testing.T, method, u string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	// Redirects are for the test to see, not to follow.
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func TestURL(t *testing.T) {
	s := New(t)
	if !strings.HasPrefix(s.URL, "http://127.0.0.1:") || !strings.HasSuffix(s.URL, "/") {
		t.Errorf("URL: got %q, want http://127.0.0.1:PORT/", s.URL)
	}
}

func TestListReleasesPagination(t *testing.T) {
	s := New(t)
	for i := range 5 {
		s.AddRelease(repo, Release{Tag: "v" + strconv.Itoa(i)})
	}
	gh := newGitHub(t, s)
	tests := []struct {
		page, perPage       int
		wantTags            []string
		wantNext, wantPrev  int
		wantLast, wantFirst int
	}{
		{page: 1, perPage: 2, wantTags: []string{"v4", "v3"}, wantNext: 2, wantLast: 3},
		{page: 2, perPage: 2, wantTags: []string{"v2", "v1"}, wantNext: 3, wantPrev: 1, wantLast: 3, wantFirst: 1},
		{page: 3, perPage: 2, wantTags: []string{"v0"}, wantPrev: 2, wantFirst: 1},
		{page: 4, perPage: 2, wantTags: nil, wantPrev: 3, wantFirst: 1},
		{page: 1, perPage: 100, wantTags: []string{"v4", "v3", "v2", "v1", "v0"}},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.page)+"x"+strconv.Itoa(tt.perPage), func(t *testing.T) {
			rels, resp, err := gh.Repositories.ListReleases(context.Background(), "acme", "fw", &github.ListOptions{Page: tt.page, PerPage: tt.perPage})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range rels {
				got = append(got, r.GetTagName())
			}
			if strings.Join(got, ",") != strings.Join(tt.wantTags, ",") {
				t.Errorf("tags: got %q, want %q", got, tt.wantTags)
			}
			if resp.NextPage != tt.wantNext || resp.PrevPage != tt.wantPrev || resp.LastPage != tt.wantLast || resp.FirstPage != tt.wantFirst {
				t.Errorf("pages: got next %d prev %d last %d first %d, want %d %d %d %d",
					resp.NextPage, resp.PrevPage, resp.LastPage, resp.FirstPage, tt.wantNext, tt.wantPrev, tt.wantLast, tt.wantFirst)
			}
		})
	}

	t.Run("SetMaxPerPage", func(t *testing.T) {
		s.SetMaxPerPage(1)
		rels, resp, err := gh.Repositories.ListReleases(context.Background(), "acme", "fw", &github.ListOptions{PerPage: 100})
		if err != nil {
			t.Fatal(err)
		}
		if len(rels) != 1 || resp.NextPage != 2 || resp.LastPage != 5 {
			t.Errorf("got %d releases, next %d, last %d; want 1, 2, 5", len(rels), resp.NextPage, resp.LastPage)
		}
	})
}

func TestReleaseJSON(t *testing.T) {
	s := New(t)
	published := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	id := s.AddRelease(repo, Release{Tag: "v1.0.0", Name: "One", Prerelease: true, PublishedAt: published,
		Assets: []Asset{{Name: "lamp.bin", Data: []byte{0xE9, 1, 2}}}})
	s.AddRelease(repo, Release{Tag: "v2.0.0", Draft: true})
	gh := newGitHub(t, s)
	ctx := context.Background()

	r, _, err := gh.Repositories.GetReleaseByTag(ctx, "acme", "fw", "v1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	if r.GetID() != id || r.GetName() != "One" || !r.GetPrerelease() || r.GetDraft() || !r.GetPublishedAt().Time.Equal(published) {
		t.Errorf("release: got id %d name %q prerelease %v draft %v published %v", r.GetID(), r.GetName(), r.GetPrerelease(), r.GetDraft(), r.GetPublishedAt())
	}
	if len(r.Assets) != 1 {
		t.Fatalf("assets: got %d, want 1", len(r.Assets))
	}
	a := r.Assets[0]
	if a.GetID() == 0 || a.GetName() != "lamp.bin" || a.GetSize() != 3 || a.GetUpdatedAt().IsZero() ||
		!strings.HasPrefix(a.GetBrowserDownloadURL(), s.URL+"download/") {
		t.Errorf("asset: got %+v", a)
	}

	rels, _, err := gh.Repositories.ListReleases(ctx, "acme", "fw", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rels) != 2 || !rels[0].GetDraft() || rels[0].PublishedAt != nil {
		t.Errorf("draft: got %+v, want it first with published_at null", rels[0])
	}

	for _, tag := range []string{"v2.0.0", "v9"} {
		_, _, err := gh.Repositories.GetReleaseByTag(ctx, "acme", "fw", tag)
		var er *github.ErrorResponse
		if !errors.As(err, &er) || er.Response.StatusCode != http.StatusNotFound {
			t.Errorf("GetReleaseByTag(%q): got %v, want 404", tag, err)
		}
	}
}

func TestETag(t *testing.T) {
	s := New(t)
	s.AddRelease(repo, Release{Tag: "v1"})
	u := s.URL + "repos/acme/fw/releases"

	resp, body := do(t, "GET", u, nil)
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != 200 || etag == "" || len(body) == 0 {
		t.Fatalf("first GET: got %d, ETag %q", resp.StatusCode, etag)
	}
	resp, body = do(t, "GET", u, map[string]string{"If-None-Match": etag})
	if resp.StatusCode != http.StatusNotModified || len(body) != 0 {
		t.Errorf("GET with If-None-Match: got %d with %d bytes, want 304 and none", resp.StatusCode, len(body))
	}
	s.EditRelease(repo, "v1", func(r *Release) { r.Name = "renamed" })
	resp, _ = do(t, "GET", u, map[string]string{"If-None-Match": etag})
	if resp.StatusCode != 200 || resp.Header.Get("ETag") == etag {
		t.Errorf("GET after a change: got %d with ETag %q, want 200 and a new ETag", resp.StatusCode, resp.Header.Get("ETag"))
	}
	if got := s.NotModified(); got != 1 {
		t.Errorf("NotModified: got %d, want 1", got)
	}
}

func TestAssets(t *testing.T) {
	s := New(t)
	s.RequireToken("secret")
	data := bytes.Repeat([]byte("firmware"), 1000)
	s.AddRelease(repo, Release{Tag: "v1", Assets: []Asset{{Name: "lamp 1.bin", Data: data}}})
	s.mu.Lock()
	assetID := s.repo(repo).releases[0].assets[0].id
	s.mu.Unlock()
	u := s.URL + "repos/acme/fw/releases/assets/" + strconv.FormatInt(assetID, 10)
	auth := map[string]string{"Authorization": "Bearer secret"}

	resp, body := do(t, "GET", u, auth)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"name":"lamp 1.bin"`) {
		t.Errorf("metadata: got %d %s", resp.StatusCode, body)
	}
	resp, _ = do(t, "GET", u, map[string]string{"Authorization": "token secret", "Accept": "application/octet-stream"})
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, s.URL+"download/") {
		t.Fatalf("octet-stream: got %d to %q, want 302 to %sdownload/...", resp.StatusCode, loc, s.URL)
	}
	resp, body = do(t, "GET", loc, nil) // no token needed
	if resp.StatusCode != 200 || !bytes.Equal(body, data) || resp.ContentLength != int64(len(data)) {
		t.Errorf("download: got %d, %d bytes, Content-Length %d; want 200 and %d bytes", resp.StatusCode, len(body), resp.ContentLength, len(data))
	}

	tests := []struct {
		name   string
		url    string
		header map[string]string
		want   int
	}{
		{"no token", u, nil, http.StatusUnauthorized},
		{"wrong token", u, map[string]string{"Authorization": "Bearer nope"}, http.StatusUnauthorized},
		{"unknown asset", s.URL + "repos/acme/fw/releases/assets/999", auth, http.StatusNotFound},
		{"asset of another repo", s.URL + "repos/acme/other/releases/assets/" + strconv.FormatInt(assetID, 10), auth, http.StatusNotFound},
		{"download with a wrong name", s.URL + "download/" + strconv.FormatInt(assetID, 10) + "/x.bin", nil, http.StatusNotFound},
		{"unknown endpoint", s.URL + "repos/acme/fw/pulls", auth, http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if resp, body := do(t, "GET", tt.url, tt.header); resp.StatusCode != tt.want {
				t.Errorf("got %d %s, want %d", resp.StatusCode, body, tt.want)
			}
		})
	}
}

func TestEditRelease(t *testing.T) {
	s := New(t)
	assets := []Asset{{Name: "a.bin", Data: []byte("a")}, {Name: "b.bin", Data: []byte("b")}}
	s.AddRelease(repo, Release{Tag: "v1", Draft: true, Assets: assets})
	assets[0].Data[0] = 'X' // the server keeps its own copy
	gh := newGitHub(t, s)
	ctx := context.Background()
	list := func() *github.RepositoryRelease {
		rels, _, err := gh.Repositories.ListReleases(ctx, "acme", "fw", nil)
		if err != nil || len(rels) != 1 {
			t.Fatalf("ListReleases: got %d releases, %v", len(rels), err)
		}
		return rels[0]
	}
	before := list()

	s.EditRelease(repo, "v1", func(r *Release) {
		r.Draft = false
		r.Assets[0].Data = []byte("new a")
	})
	s.EditRelease(repo, "nope", func(*Release) { t.Error("f called for a missing tag") })
	after := list()
	if after.GetDraft() || after.PublishedAt == nil {
		t.Errorf("published draft: got draft %v, published_at %v", after.GetDraft(), after.PublishedAt)
	}
	if a, b := after.Assets[0], before.Assets[0]; a.GetID() == b.GetID() || !a.GetUpdatedAt().After(b.GetUpdatedAt().Time) || a.GetSize() != 5 {
		t.Errorf("replaced asset: got id %d updated %v size %d, before id %d updated %v", a.GetID(), a.GetUpdatedAt(), a.GetSize(), b.GetID(), b.GetUpdatedAt())
	}
	if a, b := after.Assets[1], before.Assets[1]; a.GetID() != b.GetID() || !a.GetUpdatedAt().Time.Equal(b.GetUpdatedAt().Time) {
		t.Errorf("unchanged asset: got id %d updated %v, want %d %v", a.GetID(), a.GetUpdatedAt(), b.GetID(), b.GetUpdatedAt())
	}
	if got := before.Assets[0].GetSize(); got != 1 {
		t.Errorf("size of the original asset: got %d, want 1", got)
	}

	s.DeleteRelease(repo, "v1")
	if rels, _, _ := gh.Repositories.ListReleases(ctx, "acme", "fw", nil); len(rels) != 0 {
		t.Errorf("after DeleteRelease: got %d releases, want 0", len(rels))
	}
}

func TestFailureModes(t *testing.T) {
	s := New(t)
	s.AddRelease(repo, Release{Tag: "v1", Assets: []Asset{{Name: "a.bin", Data: []byte("a")}}})
	gh := newGitHub(t, s)
	ctx := context.Background()

	t.Run("primary rate limit", func(t *testing.T) {
		until := time.Now().Add(90 * time.Minute)
		s.SetRateLimited(until)
		defer s.SetRateLimited(time.Time{})
		_, _, err := gh.Repositories.ListReleases(ctx, "acme", "fw", nil)
		var rl *github.RateLimitError
		if !errors.As(err, &rl) {
			t.Fatalf("got %v, want a *github.RateLimitError", err)
		}
		if want := until.Truncate(time.Second).Add(time.Second); !rl.Rate.Reset.Time.Equal(want) || rl.Rate.Remaining != 0 {
			t.Errorf("rate: got reset %v remaining %d, want %v and 0", rl.Rate.Reset, rl.Rate.Remaining, want)
		}
	})
	t.Run("secondary rate limit", func(t *testing.T) {
		// On the server's own clock, stopped, Retry-After is exact and
		// the limit ends when the clock passes it.
		var mu sync.Mutex
		now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
		s.SetClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
		defer s.SetClock(time.Now)
		s.SetSecondaryRateLimited(now.Add(30 * time.Second))
		defer s.SetSecondaryRateLimited(time.Time{})
		_, _, err := newGitHub(t, s).Repositories.ListReleases(ctx, "acme", "fw", nil)
		var ab *github.AbuseRateLimitError
		if !errors.As(err, &ab) || ab.RetryAfter == nil || *ab.RetryAfter != 30*time.Second {
			t.Fatalf("got %v, want a *github.AbuseRateLimitError with RetryAfter 30s", err)
		}
		mu.Lock()
		now = now.Add(30 * time.Second)
		mu.Unlock()
		if _, _, err := newGitHub(t, s).Repositories.ListReleases(ctx, "acme", "fw", nil); err != nil {
			t.Errorf("once the server's clock passes the limit: got %v, want no error", err)
		}
	})
	t.Run("down", func(t *testing.T) {
		s.SetDown(true)
		defer s.SetDown(false)
		for _, path := range []string{"repos/acme/fw/releases", "download/2/a.bin"} {
			if resp, _ := do(t, "GET", s.URL+path, nil); resp.StatusCode != http.StatusBadGateway {
				t.Errorf("GET %s: got %d, want 502", path, resp.StatusCode)
			}
		}
	})
	t.Run("recovered", func(t *testing.T) {
		if _, _, err := newGitHub(t, s).Repositories.ListReleases(ctx, "acme", "fw", nil); err != nil {
			t.Errorf("after lifting every failure: %v", err)
		}
	})
}

func TestStatuses(t *testing.T) {
	s := New(t)
	gh := newGitHub(t, s)
	ctx := context.Background()
	const sha = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"
	tests := []struct {
		status  github.RepoStatus
		wantErr bool
	}{
		{status: github.RepoStatus{State: github.String("pending"), Description: github.String("planning..."), Context: github.String("otagit/validate")}},
		{status: github.RepoStatus{State: github.String("success"), Description: github.String("ok"), Context: github.String("otagit/validate"), TargetURL: github.String("https://x/")}},
		{status: github.RepoStatus{State: github.String("done")}, wantErr: true},
		{status: github.RepoStatus{State: github.String("error"), Description: github.String(strings.Repeat("x", 141))}, wantErr: true},
	}
	for _, tt := range tests {
		_, _, err := gh.Repositories.CreateStatus(ctx, "acme", "fw", sha, &tt.status)
		if (err != nil) != tt.wantErr {
			t.Errorf("CreateStatus(%v): got %v, want error %v", tt.status, err, tt.wantErr)
		}
	}
	want := []Status{
		{State: "pending", Description: "planning...", Context: "otagit/validate"},
		{State: "success", Description: "ok", Context: "otagit/validate", TargetURL: "https://x/"},
	}
	got := s.Statuses(repo, sha)
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("Statuses: got %+v, want %+v", got, want)
	}
}

func TestComments(t *testing.T) {
	s := New(t)
	gh := newGitHub(t, s)
	ctx := context.Background()
	human := s.AddComment(repo, 3, "LGTM")
	c, _, err := gh.Issues.CreateComment(ctx, "acme", "fw", 3, &github.IssueComment{Body: github.String("plan")})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := gh.Issues.EditComment(ctx, "acme", "fw", c.GetID(), &github.IssueComment{Body: github.String("plan 2")}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := gh.Issues.EditComment(ctx, "acme", "fw", 999, &github.IssueComment{Body: github.String("x")}); err == nil {
		t.Error("EditComment of a missing comment: got nil, want 404")
	}
	list, _, err := gh.Issues.ListComments(ctx, "acme", "fw", 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].GetID() != human || list[1].GetBody() != "plan 2" {
		t.Errorf("ListComments: got %+v", list)
	}
	want := []Comment{{ID: human, Body: "LGTM"}, {ID: c.GetID(), Body: "plan 2"}}
	if got := s.Comments(repo, 3); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("Comments: got %+v, want %+v", got, want)
	}
	if got := s.Comments(repo, 4); len(got) != 0 {
		t.Errorf("Comments of another PR: got %+v, want none", got)
	}
	s.DeleteComment(repo, human)
	if got := s.Comments(repo, 3); len(got) != 1 || got[0].ID != c.GetID() {
		t.Errorf("after DeleteComment: got %+v", got)
	}
}

func TestLog(t *testing.T) {
	s := New(t)
	do(t, "GET", s.URL+"repos/acme/fw/releases?per_page=5", map[string]string{"Authorization": "Bearer t"})
	do(t, "GET", s.URL+"download/1/x", nil)
	log := s.Log()
	want := []Request{
		{Method: "GET", Path: "/repos/acme/fw/releases", Query: "per_page=5", Authorization: "Bearer t", Status: 200},
		{Method: "GET", Path: "/download/1/x", Status: 404},
	}
	if len(log) != 2 || log[0] != want[0] || log[1] != want[1] {
		t.Errorf("Log: got %+v, want %+v", log, want)
	}
	if s.Requests() != 2 || s.RequestsFor("/download/") != 1 || s.RequestsFor("/repos/acme/fw") != 1 {
		t.Errorf("Requests %d, RequestsFor(/download/) %d, RequestsFor(/repos/acme/fw) %d; want 2, 1, 1",
			s.Requests(), s.RequestsFor("/download/"), s.RequestsFor("/repos/acme/fw"))
	}
}

func TestConcurrent(t *testing.T) {
	s := New(t)
	gh := newGitHub(t, s)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			tag := "v" + strconv.Itoa(i)
			s.AddRelease(repo, Release{Tag: tag, Assets: []Asset{{Name: "a", Data: []byte{byte(i)}}}})
			s.EditRelease(repo, tag, func(r *Release) { r.Assets[0].Data = []byte{byte(i), 1} })
			if _, _, err := gh.Repositories.ListReleases(context.Background(), "acme", "fw", nil); err != nil {
				t.Error(err)
			}
			s.Log()
		})
	}
	wg.Wait()
	if rels, _, _ := gh.Repositories.ListReleases(context.Background(), "acme", "fw", nil); len(rels) != 8 {
		t.Errorf("releases: got %d, want 8", len(rels))
	}
}
