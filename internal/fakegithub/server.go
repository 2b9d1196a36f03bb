// Package fakegithub is an in-memory fake of the parts of the GitHub REST
// API that otagit uses (releases and their assets, commit statuses, issue
// comments), served by an httptest server on 127.0.0.1, so tests never
// reach the network.
//
// A test creates a Server with New, seeds it (AddRelease), points the code
// under test at Server.URL (a base URL ending in "/", as go-github and
// webhook.ClientConfig.BaseURL expect) and then checks what the code did
// (Statuses, Comments, Log). Failure modes are switched on at will:
// SetRateLimited, SetSecondaryRateLimited, SetDown, RequireToken.
//
// Responses have GitHub's JSON shapes (the fields go-github decodes),
// pagination (per_page, page and Link headers) and ETags: a GET whose
// If-None-Match matches the current body is answered 304, as GitHub does.
package fakegithub

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is a fake GitHub API. All methods are safe for concurrent use,
// also while the server is answering requests.
type Server struct {
	// URL is the base URL of the API, "http://127.0.0.1:PORT/". It ends in
	// "/" and works as go-github's BaseURL.
	URL string

	srv *httptest.Server

	// mu guards every field below.
	mu           sync.Mutex
	repos        map[string]*repoState // by lower-case "owner/name"
	nextID       int64
	lastTime     time.Time
	log          []Request
	maxPerPage   int
	limitedUntil time.Time // primary rate limit
	abuseUntil   time.Time // secondary rate limit
	down         bool
	token        string
	downloadBase string
	clock        func() time.Time // time.Now unless SetClock
}

// Request is one request the server received, as Log reports it.
type Request struct {
	// Method and Path are the request's method and escaped path, e.g.
	// "GET" and "/repos/acme/fw/releases".
	Method, Path string
	// Query is the raw query string, without "?".
	Query string
	// Authorization is the request's Authorization header ("" if none).
	Authorization string
	// IfNoneMatch is the request's If-None-Match header ("" if none).
	IfNoneMatch string
	// Status is the status code the server answered.
	Status int
}

type repoState struct {
	releases []*release // in creation order, oldest first
	statuses map[string][]Status
	comments map[int][]*comment
}

// New starts a fake GitHub API on 127.0.0.1 and closes it when the test
// ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{
		repos:      make(map[string]*repoState),
		maxPerPage: 100,
		clock:      time.Now,
	}
	s.srv = httptest.NewServer(s.routes())
	s.URL = s.srv.URL + "/"
	t.Cleanup(s.srv.Close)
	return s
}

// SetRateLimited makes the server answer every API request with GitHub's
// primary rate limit response (403, X-RateLimit-Remaining: 0,
// X-RateLimit-Reset) until the given time, rounded up to a whole second
// because X-RateLimit-Reset has second precision. A zero time lifts the
// limit. Downloads are not rate limited.
func (s *Server) SetRateLimited(until time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limitedUntil = ceilSecond(until)
}

// SetSecondaryRateLimited makes the server answer every API request with
// GitHub's secondary rate limit response (403 with Retry-After and a
// documentation_url ending in "secondary-rate-limits") until the given
// time, rounded up to a whole second. A zero time lifts the limit.
func (s *Server) SetSecondaryRateLimited(until time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.abuseUntil = ceilSecond(until)
}

// SetClock makes the server tell the time with now instead of time.Now:
// when rate limits end, how long Retry-After says, and the timestamps of
// what it creates. A test that shares one fake clock between the server
// and the code under test sees a rate limit end exactly when it moves the
// clock past it.
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clock = now
}

// SetDown makes the server answer 502 to every request (API and
// downloads) while down is true, like GitHub during an outage.
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// RequireToken makes the server answer 401 to API requests without
// "Authorization: token <token>" or "Authorization: Bearer <token>".
// Downloads never need it: GitHub serves assets from signed URLs. An
// empty token lifts the requirement.
func (s *Server) RequireToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = token
}

// SetMaxPerPage caps the page size of list endpoints (GitHub's cap is
// 100, the default), so tests can exercise pagination with few items.
func (s *Server) SetMaxPerPage(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maxPerPage = max(n, 1)
}

// SetDownloadBaseURL makes asset downloads redirect to base (which must
// end in "/") instead of the server itself: "base/download/{id}/{name}".
// Tests use it to put the download on another host, as GitHub does, and
// check what reaches that host. That host may forward the request to this
// server's URL, which serves the bytes.
func (s *Server) SetDownloadBaseURL(base string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.downloadBase = base
}

// Log returns every request the server has received, in order.
func (s *Server) Log() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.log...)
}

// Requests returns how many requests (API and downloads, whatever the
// answer) the server has received.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.log)
}

// RequestsFor returns how many requests the server has received whose
// path starts with prefix, e.g. "/repos/acme/fw/releases" or "/download/".
func (s *Server) RequestsFor(prefix string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.log {
		if strings.HasPrefix(r.Path, prefix) {
			n++
		}
	}
	return n
}

// NotModified returns how many requests were answered 304 Not Modified.
func (s *Server) NotModified() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.log {
		if r.Status == http.StatusNotModified {
			n++
		}
	}
	return n
}

// repo returns the state of repo, creating it. s.mu must be held.
func (s *Server) repo(name string) *repoState {
	key := strings.ToLower(name)
	r := s.repos[key]
	if r == nil {
		r = &repoState{statuses: make(map[string][]Status), comments: make(map[int][]*comment)}
		s.repos[key] = r
	}
	return r
}

// id returns a new id, unique across the server. s.mu must be held.
func (s *Server) id() int64 {
	s.nextID++
	return s.nextID
}

// now returns the current time at GitHub's one-second precision, strictly
// later than any time it returned before, so that a replaced asset always
// has a new updated_at. s.mu must be held.
func (s *Server) now() time.Time {
	t := s.clock().UTC().Truncate(time.Second)
	if !t.After(s.lastTime) {
		t = s.lastTime.Add(time.Second)
	}
	s.lastTime = t
	return t
}

func ceilSecond(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	if r := t.Truncate(time.Second); !r.Equal(t) {
		return r.Add(time.Second)
	}
	return t
}

// statusRecorder logs a request as soon as its status is written, before
// any of the response reaches the client: a test that has read a response
// then always finds its request in the log.
type statusRecorder struct {
	http.ResponseWriter
	status int
	record func(status int)
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
		w.record(code)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(p)
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /repos/{owner}/{repo}/releases", s.listReleases)
	mux.HandleFunc("GET /repos/{owner}/{repo}/releases/tags/{tag...}", s.releaseByTag)
	mux.HandleFunc("GET /repos/{owner}/{repo}/releases/assets/{id}", s.asset)
	mux.HandleFunc("GET /download/{id}/{name}", s.download)
	mux.HandleFunc("POST /repos/{owner}/{repo}/statuses/{sha}", s.createStatus)
	mux.HandleFunc("GET /repos/{owner}/{repo}/issues/{number}/comments", s.listComments)
	mux.HandleFunc("POST /repos/{owner}/{repo}/issues/{number}/comments", s.createComment)
	mux.HandleFunc("PATCH /repos/{owner}/{repo}/issues/comments/{id}", s.editComment)
	mux.HandleFunc("GET /user", func(w http.ResponseWriter, r *http.Request) {
		// The token's user, who writes the comments clients create.
		writeJSON(w, http.StatusOK, bot)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "Not Found")
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, record: func(status int) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.log = append(s.log, Request{
				Method:        r.Method,
				Path:          r.URL.EscapedPath(),
				Query:         r.URL.RawQuery,
				Authorization: r.Header.Get("Authorization"),
				IfNoneMatch:   r.Header.Get("If-None-Match"),
				Status:        status,
			})
		}}
		defer func() {
			if rec.status == 0 { // nothing written: net/http sends 200
				rec.WriteHeader(http.StatusOK)
			}
		}()
		if s.refuse(rec, r) {
			return
		}
		mux.ServeHTTP(rec, r)
	})
}

// refuse answers the request itself when the server is down, rate limited
// or the request lacks the required token, and reports whether it did.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	down, token := s.down, s.token
	limited, abuse := s.limitedUntil, s.abuseUntil
	now := s.clock()
	s.mu.Unlock()

	if down {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprint(w, "<html><body><h1>502 Bad Gateway</h1></body></html>\n")
		return true
	}
	if strings.HasPrefix(r.URL.Path, "/download/") {
		return false
	}
	if token != "" {
		auth := r.Header.Get("Authorization")
		if auth != "token "+token && auth != "Bearer "+token {
			writeError(w, http.StatusUnauthorized, "Bad credentials")
			return true
		}
	}
	if now.Before(limited) {
		h := w.Header()
		h.Set("X-RateLimit-Limit", "5000")
		h.Set("X-RateLimit-Remaining", "0")
		h.Set("X-RateLimit-Used", "5000")
		h.Set("X-RateLimit-Reset", strconv.FormatInt(limited.Unix(), 10))
		h.Set("X-RateLimit-Resource", "core")
		writeJSON(w, http.StatusForbidden, map[string]string{
			"message":           "API rate limit exceeded for user ID 1.",
			"documentation_url": "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting",
		})
		return true
	}
	if now.Before(abuse) {
		secs := int64(math.Ceil(abuse.Sub(now).Seconds()))
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		writeJSON(w, http.StatusForbidden, map[string]string{
			"message":           "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
			"documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
		})
		return true
	}
	h := w.Header()
	h.Set("X-RateLimit-Limit", "5000")
	h.Set("X-RateLimit-Remaining", "4999")
	h.Set("X-RateLimit-Reset", strconv.FormatInt(now.Add(time.Hour).Unix(), 10))
	return false
}

// writeJSON writes v with status code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own types are written
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	w.Write(b)
}

// writeCacheable writes v as a 200 with an ETag derived from its body, or
// a bodyless 304 if the request's If-None-Match names that ETag.
func writeCacheable(w http.ResponseWriter, r *http.Request, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(b)
	etag := `W/"` + hex.EncodeToString(sum[:16]) + `"`
	w.Header().Set("ETag", etag)
	w.Header().Set("Cache-Control", "private, max-age=60, s-maxage=60")
	w.Header().Set("Vary", "Accept, Authorization")
	if inm := r.Header.Get("If-None-Match"); inm != "" && (inm == etag || strings.TrimPrefix(inm, "W/") == strings.TrimPrefix(etag, "W/")) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{
		"message":           msg,
		"documentation_url": "https://docs.github.com/rest",
	})
}

// page slices items per the request's per_page and page parameters
// (GitHub's defaults: 30 per page, page 1) and sets the Link header.
func page[T any](s *Server, w http.ResponseWriter, r *http.Request, items []T) []T {
	s.mu.Lock()
	limit := s.maxPerPage
	s.mu.Unlock()
	q := r.URL.Query()
	perPage, err := strconv.Atoi(q.Get("per_page"))
	if err != nil || perPage <= 0 {
		perPage = 30
	}
	perPage = min(perPage, limit)
	n, err := strconv.Atoi(q.Get("page"))
	if err != nil || n <= 0 {
		n = 1
	}
	last := max((len(items)+perPage-1)/perPage, 1)
	link := func(p int, rel string) string {
		q := r.URL.Query()
		q.Set("per_page", strconv.Itoa(perPage))
		q.Set("page", strconv.Itoa(p))
		return fmt.Sprintf(`<%s%s?%s>; rel=%q`, s.URL, strings.TrimPrefix(r.URL.EscapedPath(), "/"), q.Encode(), rel)
	}
	var links []string
	if n > 1 {
		links = append(links, link(n-1, "prev"))
	}
	if n < last {
		links = append(links, link(n+1, "next"), link(last, "last"))
	}
	if n > 1 {
		links = append(links, link(1, "first"))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	lo := min((n-1)*perPage, len(items))
	hi := min(lo+perPage, len(items))
	return items[lo:hi]
}

func parseID(s string) (int64, bool) {
	id, err := strconv.ParseInt(s, 10, 64)
	return id, err == nil && id > 0
}
