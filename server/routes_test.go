package server

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/gorilla/mux"

	"github.com/otagit/otagit/access"
	"github.com/otagit/otagit/gitstore"
)

// oddValues are what every path variable and query parameter is tried
// with: traversal, encoded traversal, NUL and control bytes, invalid
// UTF-8, very long values.
var oddValues = []string{
	"..", "../../../../etc/passwd", "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "..%2f..%2fetc%2fpasswd", "%00", "a%00b",
	"%0d%0aSet-Cookie:%20x=1", "%ff%fe", "%c0%ae%c0%ae", "~", "%5c..%5c..%5cwindows", strings.Repeat("a", 8<<10),
	"%25", "%", "18:FE:34:A1:00:01", "smart-lamp", "1.1.0",
}

// TestEveryRouteWithOddParameters walks every route the server serves and
// tries each path variable and a set of query parameters with oddValues:
// no answer is a 5xx, none shows a file outside what is served, and the
// connection stays usable. The read API is reached through the operator
// listener and with a token, so its handlers run too.
func TestEveryRouteWithOddParameters(t *testing.T) {
	repo, commit := starter(t, 4<<10)
	srv := start(t, repo.Bare, func(c *Config) {
		c.AdminToken = access.StaticSecret("adm1n")
	})
	addr := srv.addrs[0]
	waitServing(t, addr, commit)

	// The templates of every route, from the server's own router.
	var templates []string
	// A store that is never run: only the routes are read.
	store, err := gitstore.New(gitstore.Options{Remote: gitstore.Remote{URL: repo.Bare, Branch: "main"}, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	s := &server{cfg: Config{AdminToken: access.StaticSecret("x")}, store: store, handlers: newInflight()}
	router, _ := s.router()
	err = router.Walk(func(r *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		if tpl, err := r.GetPathTemplate(); err == nil {
			templates = append(templates, tpl)
		}
		return nil
	})
	if err != nil || len(templates) < 15 {
		t.Fatalf("routes: %v %v", templates, err)
	}
	variable := regexp.MustCompile(`\{[^}]+\}`)
	queries := []string{"dev", "ver", "version", "platform", "mac", "q", "page", "token", "next", "id"}

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { conn.Close() }()
	br := bufio.NewReader(conn)
	tried := 0
	send := func(method, target string) {
		t.Helper()
		tried++
		req := method + " " + target + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer adm1n\r\n" +
			"User-Agent: ESP8266-http-Update\r\nx-ESP8266-STA-MAC: 18:FE:34:A1:00:01\r\nx-ESP8266-mode: sketch\r\n" +
			"Content-Length: 0\r\n\r\n"
		if _, err := io.WriteString(conn, req); err != nil {
			t.Fatalf("%s %s: %v", method, target, err)
		}
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s %s: no answer: %v", method, target, err)
		}
		body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		res.Body.Close()
		if res.StatusCode >= 500 {
			t.Errorf("%s %s: %d %s", method, target, res.StatusCode, body)
		}
		if strings.Contains(string(body), "root:x:0") {
			t.Errorf("%s %s: served a file outside the repository", method, target)
		}
		if res.Close || res.StatusCode == http.StatusBadRequest && res.Header.Get("Connection") == "close" {
			conn.Close()
			if conn, err = net.Dial("tcp", addr); err != nil {
				t.Fatal(err)
			}
			br = bufio.NewReader(conn)
		}
	}
	for _, tpl := range templates {
		method := "GET"
		if strings.HasSuffix(tpl, "/resume") || tpl == access.LoginPath || strings.HasPrefix(tpl, "/webhook/") {
			method = "POST"
		}
		for _, v := range oddValues {
			path := variable.ReplaceAllString(tpl, v)
			if strings.HasSuffix(path, "/") {
				path += v // a prefix route: what follows it
			}
			send(method, path)
			for _, q := range queries {
				send(method, path+"?"+q+"="+v)
			}
		}
	}
	t.Logf("%d requests over %d routes", tried, len(templates))
}
