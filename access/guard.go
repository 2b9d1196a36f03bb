package access

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/otagit/otagit/internal/lograte"
)

// Guard holds the operator access rule, in one place for every route:
//
//   - the read API and the dashboard (what lists devices and their
//     addresses) answer a request that carries the read or the admin
//     token (as "Authorization: Bearer", any case of the scheme, or the
//     dashboard's session cookie), and any request on an operator
//     listener; on any other listener, without a valid token, they are
//     refused: 401 when a token is configured, else 403 naming the flags
//     that open them;
//   - write calls need the admin token, on every listener.
//
// Failed token attempts are logged, at most one record per second (with
// the count of those left out), never with the token.
type Guard struct {
	// Read is the read token; nil or empty: none.
	Read *Secret
	// Admin is the admin token, which also grants read; nil or empty:
	// write calls are disabled.
	Admin *Secret
	// Logger receives refusals. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock of the log rate limit; default time.Now.
	Now func() time.Time

	once sync.Once
	logs lograte.Limiter // of refusals' log records
}

type operatorKey struct{}

// WithOperator marks ctx as the context of an operator listener's
// connections, where the read API needs no token.
func WithOperator(ctx context.Context) context.Context {
	return context.WithValue(ctx, operatorKey{}, true)
}

// OnOperator reports whether ctx is a request's on an operator listener.
func OnOperator(ctx context.Context) bool {
	v, _ := ctx.Value(operatorKey{}).(bool)
	return v
}

// Bearer returns the token of r's "Authorization: Bearer" header. The
// scheme is matched in any case (RFC 9110 section 11.1).
func Bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// equal compares a presented token with a configured one in constant
// time; an unset configured token matches nothing.
func equal(presented string, want []byte) bool {
	if len(want) == 0 {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(presented), want) == 1
}

// SessionCookie is the name of the dashboard's session cookie.
const SessionCookie = "otagit_session"

// sessionValue is the cookie that a token's login sets: a MAC of a fixed
// text under the token, so the cookie is not the token, and rotating the
// token ends every session made with the old one.
func sessionValue(token []byte) string {
	m := hmac.New(sha256.New, token)
	m.Write([]byte("otagit dashboard session v1"))
	return hex.EncodeToString(m.Sum(nil))
}

// grant is what a request's credentials allow.
type grant int

const (
	grantNone grant = iota
	grantRead
	grantAdmin
)

// check returns what r's credentials grant, and whether r presented any.
// A session cookie grants read only: write calls need the header, which
// a page of another site cannot make a browser send.
func (g *Guard) check(r *http.Request) (grant, bool) {
	admin, read := g.Admin.Bytes(), g.Read.Bytes()
	if tok, ok := Bearer(r); ok {
		switch {
		case equal(tok, admin):
			return grantAdmin, true
		case equal(tok, read):
			return grantRead, true
		}
		return grantNone, true
	}
	if c, err := r.Cookie(SessionCookie); err == nil {
		for _, t := range [][]byte{admin, read} {
			if len(t) > 0 && subtle.ConstantTimeCompare([]byte(c.Value), []byte(sessionValue(t))) == 1 {
				return grantRead, true
			}
		}
		return grantNone, true
	}
	return grantNone, false
}

// tokens reports whether any token that grants read is configured.
func (g *Guard) tokens() bool { return g.Read.Set() || g.Admin.Set() }

// ReadHandler guards h, which lists devices or their addresses.
func (g *Guard) ReadHandler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, presented := g.check(r)
		if got >= grantRead || OnOperator(r.Context()) {
			h.ServeHTTP(w, r)
			return
		}
		if presented {
			g.refused(r, "read")
		}
		if !g.tokens() {
			http.Error(w, "the operator API is not served on this listener: use the operator listener (--admin-listen) "+
				"or start the server with a read token (--read-token-file)", http.StatusForbidden)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="otagit"`)
		if wantsHTML(r) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(http.StatusUnauthorized)
			loginPage.Execute(w, r.URL.RequestURI())
			return
		}
		http.Error(w, "a valid read or admin token is required (Authorization: Bearer TOKEN)", http.StatusUnauthorized)
	})
}

// AdminHandler guards h, a write call: it needs the admin token.
func (g *Guard) AdminHandler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.Admin.Set() {
			writeJSONError(w, http.StatusForbidden, "the admin API is disabled: start the server with an admin token (--admin-token-file)")
			return
		}
		got, presented := g.check(r)
		if got == grantAdmin {
			h.ServeHTTP(w, r)
			return
		}
		if presented {
			g.refused(r, "admin")
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="otagit"`)
		writeJSONError(w, http.StatusUnauthorized, "a valid admin token is required")
	})
}

// writeJSONError answers with the API's error document, {"error": msg}.
func writeJSONError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	b, _ := jsonString(msg)
	w.Write([]byte(`{"error":` + b + "}\n"))
}

// refused logs a failed token attempt, at most once a second.
func (g *Guard) refused(r *http.Request, what string) {
	now := time.Now
	if g.Now != nil {
		now = g.Now
	}
	g.once.Do(func() { g.logs.Burst, g.logs.Window = 1, time.Second })
	ok, n := g.logs.Allow(now())
	if !ok {
		return
	}
	log := g.Logger
	if log == nil {
		log = slog.Default()
	}
	log.Warn("operator token refused", "needs", what, "method", r.Method, "path", r.URL.Path,
		"remote", r.RemoteAddr, "refusals_not_logged", n)
}

// wantsHTML reports whether r is a browser's page request.
func wantsHTML(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.Contains(r.Header.Get("Accept"), "text/html")
}

// LoginPath is where the dashboard's login form posts.
const LoginPath = "/login"

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>otagit: sign in</title></head>
<body><h1>otagit</h1><p>This page needs the read token (or the admin token).</p>
<form method="post" action="` + LoginPath + `"><input type="hidden" name="next" value="{{.}}">
<label>Token <input type="password" name="token" autocomplete="current-password" autofocus></label>
<button type="submit">Sign in</button></form></body></html>
`))

// maxLoginForm bounds the login form's body.
const maxLoginForm = 8 << 10

// Login handles POST /login: a valid read or admin token in the form's
// "token" field sets the session cookie (HttpOnly, SameSite=Strict,
// Secure over TLS) and redirects to the form's "next" path; a wrong one
// is 401 and logged like any refused token.
func (g *Guard) Login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginForm)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad login form", http.StatusBadRequest)
		return
	}
	tok := r.PostForm.Get("token")
	var value string
	for _, t := range [][]byte{g.Admin.Bytes(), g.Read.Bytes()} {
		if equal(tok, t) {
			value = sessionValue(t)
			break
		}
	}
	if value == "" {
		g.refused(r, "read")
		http.Error(w, "wrong token", http.StatusUnauthorized)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: value, Path: "/", HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode, MaxAge: 30 * 24 * 3600})
	http.Redirect(w, r, localPath(r.PostForm.Get("next")), http.StatusSeeOther)
}

// localPath returns next if it is a path of this server, else "/", so
// that the login cannot redirect elsewhere.
func localPath(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		strings.ContainsAny(next, "\r\n\x00") {
		return "/"
	}
	return next
}
