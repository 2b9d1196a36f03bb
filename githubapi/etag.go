package githubapi

import (
	"bytes"
	"container/list"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// Limits of the ETag cache of a Client.
const (
	etagMaxEntries = 256
	etagMaxBytes   = 32 << 20 // all bodies together
	etagMaxBody    = 4 << 20  // one body; larger answers are not cached
)

// etagTransport makes GET requests conditional: it remembers the ETag and
// body of each 200 answer per URL, sends If-None-Match next time, and
// turns a 304 back into the remembered 200. GitHub does not count 304s
// against the rate limit, so polling releases costs nothing while they do
// not change. It is safe for concurrent use.
//
// It is a private cache of one Client (one token): answers are not shared
// between users, so Vary: Authorization needs no handling.
type etagTransport struct {
	base       http.RoundTripper
	maxEntries int
	maxBytes   int
	maxBody    int

	// mu guards lru, entries and size.
	mu      sync.Mutex
	lru     *list.List // of *etagEntry, most recently used first
	entries map[string]*list.Element
	size    int // sum of len(body)
}

type etagEntry struct {
	key    string
	etag   string
	header http.Header
	body   []byte
}

func newETagTransport(base http.RoundTripper, maxEntries, maxBytes int) *etagTransport {
	return &etagTransport{
		base:       base,
		maxEntries: maxEntries,
		maxBytes:   maxBytes,
		maxBody:    etagMaxBody,
		lru:        list.New(),
		entries:    make(map[string]*list.Element),
	}
}

// etagKey identifies a cacheable answer: the same URL answers differently
// per Accept (JSON metadata or a redirect to the bytes, for assets).
func etagKey(req *http.Request) string {
	return req.URL.String() + "\x00" + req.Header.Get("Accept")
}

// RoundTrip sends req, conditionally if an answer to it is remembered.
func (t *etagTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet || req.Header.Get("If-None-Match") != "" || req.Header.Get("Range") != "" {
		return t.base.RoundTrip(req)
	}
	key := etagKey(req)
	cached := t.get(key)
	out := req
	if cached != nil {
		out = req.Clone(req.Context()) // a RoundTripper must not modify req
		out.Header.Set("If-None-Match", cached.etag)
	}
	resp, err := t.base.RoundTrip(out)
	if err != nil {
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusNotModified && cached != nil:
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		resp.Body.Close()
		return cached.response(req, resp), nil
	case resp.StatusCode == http.StatusOK:
		etag := resp.Header.Get("ETag")
		if etag == "" {
			if cached != nil {
				t.remove(key)
			}
			return resp, nil
		}
		return t.store(key, etag, resp)
	default:
		return resp, nil
	}
}

// response rebuilds the remembered 200 for req. The 304's rate limit
// headers are the current ones, so they replace the remembered ones.
func (e *etagEntry) response(req *http.Request, notModified *http.Response) *http.Response {
	h := e.header.Clone()
	for k, v := range notModified.Header {
		if strings.HasPrefix(k, "X-Ratelimit-") || k == "Date" {
			h[k] = v
		}
	}
	h.Set("Content-Length", strconv.Itoa(len(e.body)))
	return &http.Response{
		Status:        "200 OK",
		StatusCode:    http.StatusOK,
		Proto:         notModified.Proto,
		ProtoMajor:    notModified.ProtoMajor,
		ProtoMinor:    notModified.ProtoMinor,
		Header:        h,
		Body:          io.NopCloser(bytes.NewReader(e.body)),
		ContentLength: int64(len(e.body)),
		Request:       req,
		TLS:           notModified.TLS,
	}
}

// store reads resp's body and remembers it under key, unless it is too
// large, and returns a response that yields the same body.
func (t *etagTransport) store(key, etag string, resp *http.Response) (*http.Response, error) {
	if resp.ContentLength > int64(t.maxBody) {
		t.remove(key)
		return resp, nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(t.maxBody)+1))
	if err != nil {
		resp.Body.Close()
		return nil, err
	}
	if len(body) > t.maxBody {
		// Too large to keep: hand the caller what was read and the rest.
		t.remove(key)
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(body), resp.Body), resp.Body}
		return resp, nil
	}
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	t.put(&etagEntry{key: key, etag: etag, header: resp.Header.Clone(), body: body})
	return resp, nil
}

func (t *etagTransport) get(key string) *etagEntry {
	t.mu.Lock()
	defer t.mu.Unlock()
	el, ok := t.entries[key]
	if !ok {
		return nil
	}
	t.lru.MoveToFront(el)
	return el.Value.(*etagEntry)
}

func (t *etagTransport) put(e *etagEntry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.removeLocked(e.key)
	t.entries[e.key] = t.lru.PushFront(e)
	t.size += len(e.body)
	for t.lru.Len() > t.maxEntries || t.size > t.maxBytes {
		t.removeLocked(t.lru.Back().Value.(*etagEntry).key)
	}
}

func (t *etagTransport) remove(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.removeLocked(key)
}

// removeLocked forgets key. t.mu must be held.
func (t *etagTransport) removeLocked(key string) {
	el, ok := t.entries[key]
	if !ok {
		return
	}
	t.lru.Remove(el)
	delete(t.entries, key)
	t.size -= len(el.Value.(*etagEntry).body)
}

// count returns the number of remembered answers.
func (t *etagTransport) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lru.Len()
}
