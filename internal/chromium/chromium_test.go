package chromium

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

func TestFindHonoursCHROMIUM(t *testing.T) {
	t.Setenv("CHROMIUM", "/nonexistent/chromium")
	if _, err := Find(); err == nil {
		t.Error("Find with $CHROMIUM naming no file: got nil, want an error")
	}
}

// TestLoad loads a page whose script changes it, with OTAGIT_BROWSER_TEST
// set (as for the dashboard's browser test).
func TestLoad(t *testing.T) {
	if os.Getenv("OTAGIT_BROWSER_TEST") == "" {
		t.Skip("set OTAGIT_BROWSER_TEST=1 to run headless Chromium")
	}
	bin, err := Find()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(`<!doctype html><title>t</title><p id="p">before</p><script>document.getElementById("p").textContent = "after"</script>`))
	}))
	defer srv.Close()
	b := &Browser{Path: bin, Profile: t.TempDir(), Width: 400, Height: 300}
	page, err := b.Load(context.Background(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page.DOM, `<p id="p">after</p>`) {
		t.Errorf("DOM: %s", page.DOM)
	}
	if !bytes.HasPrefix(page.PNG, []byte("\x89PNG\r\n\x1a\n")) {
		t.Error("the screenshot is not a PNG")
	}
}
