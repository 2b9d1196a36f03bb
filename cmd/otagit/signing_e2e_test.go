package main

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otagit/otagit/commitsig"
	"github.com/otagit/otagit/config"
	"github.com/otagit/otagit/espimage"
	"github.com/otagit/otagit/imagesig"
	"github.com/otagit/otagit/internal/testgitsig"
	"github.com/otagit/otagit/internal/testrepo"
	"github.com/otagit/otagit/internal/testsign"
	"github.com/otagit/otagit/server"
)

// keysDir writes the public halves of keys to a new --signing-keys
// directory, each as NAME.pem.
func keysDir(t *testing.T, keys map[string]testsign.Key) string {
	t.Helper()
	dir := t.TempDir()
	for name, k := range keys {
		if err := os.WriteFile(filepath.Join(dir, name+".pem"), testsign.PublicPEM(t, k), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const signedLampTOML = `chip = "esp8266"
signing = "esp8266"
signing_key = "lamp"

[[release]]
version = "1.0.0"
file = "fw/lamp-1.0.0.bin"
`

// TestSignedFirmwareEndToEnd runs the server with trusted keys: a signed
// image is served as it is (signature included, which the device's
// Updater checks), and every way of getting unsigned firmware out through
// Git alone is refused with the file and line while the last good commit
// keeps serving.
func TestSignedFirmwareEndToEnd(t *testing.T) {
	img10 := testrepo.Image(t, espimage.ESP8266, "lamp", "1.0.0", 8<<10)
	img11 := testrepo.Image(t, espimage.ESP8266, "lamp", "1.1.0", 8<<10)
	signed10 := testsign.ESP8266(t, testsign.RSA2048, img10)
	signed11 := testsign.ESP8266(t, testsign.RSA2048, img11)

	repo := testrepo.New(t)
	repo.WriteString("platforms/lamp.toml", signedLampTOML)
	repo.WriteString("devices/all.toml", "[[device]]\nmac = \"18:FE:34:A1:00:01\"\nplatform = \"lamp\"\n")
	repo.Write("fw/lamp-1.0.0.bin", signed10)
	good := repo.CommitPush("lamp 1.0.0, signed")

	keys, err := imagesig.LoadDir(keysDir(t, map[string]testsign.Key{"lamp": testsign.RSA2048}))
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, repo.Bare, slog.New(slog.DiscardHandler), func(cfg *server.Config) {
		cfg.Store.Trust = &config.Trust{Keys: keys, Require: []string{"*"}}
	})
	waitUntil(t, "signed commit served", func() bool { return ts.status(t).Commit == good })
	const mac = "18:FE:34:A1:00:01"
	res, body := ts.deviceGet(t, "/update", esp8266(mac, "0.9.0"))
	if res.StatusCode != 200 || !bytes.Equal(body, signed10) || res.Header.Get("x-MD5") != md5hex(signed10) {
		t.Fatalf("got %d with %d bytes, want 200 with the signed image as committed", res.StatusCode, len(body))
	}

	release11 := "\n[[release]]\nversion = \"1.1.0\"\nfile = \"fw/lamp-1.1.0.bin\"\n"
	refusals := []struct {
		name  string
		write func()
		want  string
	}{
		{"unsigned binary", func() {
			repo.WriteString("platforms/lamp.toml", signedLampTOML+release11)
			repo.Write("fw/lamp-1.1.0.bin", img11)
		}, `platforms/lamp.toml:11: release[1].file: binary "fw/lamp-1.1.0.bin": not signed: no signature trailer`},
		{"signing taken off the platform", func() {
			repo.WriteString("platforms/lamp.toml", strings.Replace(signedLampTOML, "signing = \"esp8266\"\nsigning_key = \"lamp\"\n", "", 1)+release11)
			repo.Write("fw/lamp-1.1.0.bin", img11)
		}, `platforms/lamp.toml: signing: this server requires platform lamp to be signed`},
		{"signed with a key of one's own", func() {
			repo.WriteString("platforms/lamp.toml", strings.Replace(signedLampTOML, `signing_key = "lamp"`, `signing_key = "mine"`, 1)+release11)
			repo.Write("fw/lamp-1.1.0.bin", testsign.ESP8266(t, testsign.RSA2048B, img11))
		}, `platforms/lamp.toml:3: signing_key: no trusted key "mine" on this server (trusted: lamp)`},
		{"signed with another key under the trusted name", func() {
			repo.WriteString("platforms/lamp.toml", signedLampTOML+release11)
			repo.Write("fw/lamp-1.1.0.bin", testsign.ESP8266(t, testsign.RSA2048B, img11))
		}, `platforms/lamp.toml:11: release[1].file: binary "fw/lamp-1.1.0.bin": not signed by a trusted key`},
	}
	for _, r := range refusals {
		r.write()
		bad := repo.CommitPush(r.name)
		ts.push(t, bad)
		waitUntil(t, r.name+" rejected", func() bool { return ts.status(t).RejectedCommit == bad })
		st := ts.status(t)
		if st.Commit != good || len(st.Problems) == 0 || !strings.HasPrefix(st.Problems[0].String(), r.want) {
			t.Errorf("%s: serving %.7s, problems %v; want %.7s served and %q", r.name, st.Commit, st.Problems, good, r.want)
		}
		if res, body := ts.deviceGet(t, "/update", esp8266(mac, "0.9.0")); res.StatusCode != 200 || !bytes.Equal(body, signed10) {
			t.Errorf("%s: device got %d, want 1.0.0 still", r.name, res.StatusCode)
		}
	}

	repo.WriteString("platforms/lamp.toml", signedLampTOML+release11)
	repo.Write("fw/lamp-1.1.0.bin", signed11)
	fixed := repo.CommitPush("lamp 1.1.0, signed")
	ts.push(t, fixed)
	waitUntil(t, "signed 1.1.0 served", func() bool { return ts.status(t).Commit == fixed })
	if res, body := ts.deviceGet(t, "/update", esp8266(mac, "1.0.0")); res.StatusCode != 200 || !bytes.Equal(body, signed11) {
		t.Errorf("device on 1.0.0 got %d, want the signed 1.1.0", res.StatusCode)
	}
}

// TestValidateSigned: validate checks format and presence without the
// server's keys (and says it cannot check who signed), and checks trust
// with them.
func TestValidateSigned(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	img := testrepo.Image(t, espimage.ESP8266, "lamp", "1.0.0", 4096)
	write("platforms/lamp.toml", []byte(signedLampTOML))
	write("devices/all.toml", []byte("[[device]]\nmac = \"18:FE:34:A1:00:01\"\nplatform = \"lamp\"\n"))
	write("fw/lamp-1.0.0.bin", testsign.ESP8266(t, testsign.RSA2048, img))
	keys := keysDir(t, map[string]testsign.Key{"lamp": testsign.RSA2048})
	other := keysDir(t, map[string]testsign.Key{"lamp": testsign.RSA2048B})

	code, out, _ := runCLI(t, "validate", dir)
	if code != 0 || !strings.Contains(out, "platforms/lamp.toml:3: warning: signing_key: who signed the binaries is not checked") {
		t.Errorf("without keys: exit %d:\n%s", code, out)
	}
	code, out, _ = runCLI(t, "validate", "--signing-keys", keys, dir)
	if code != 0 || strings.Contains(out, "warning:") {
		t.Errorf("with the signer's key: exit %d:\n%s", code, out)
	}
	code, out, _ = runCLI(t, "validate", "--signing-keys", other, dir)
	if code != 1 || !strings.Contains(out, `platforms/lamp.toml:7: release[0].file: binary "fw/lamp-1.0.0.bin": not signed by a trusted key`) {
		t.Errorf("with another key: exit %d:\n%s", code, out)
	}
	code, _, errs := runCLI(t, "validate", "--require-signing", "lamp", dir)
	if code == 0 || !strings.Contains(errs, "--require-signing needs --signing-keys") {
		t.Errorf("--require-signing without keys: exit %d: %s", code, errs)
	}

	write("fw/lamp-1.0.0.bin", img)
	code, out, _ = runCLI(t, "validate", dir)
	if code != 1 || !strings.Contains(out, `binary "fw/lamp-1.0.0.bin": not signed: no signature trailer`) {
		t.Errorf("unsigned, without keys: exit %d:\n%s", code, out)
	}
}

// TestSignedCommitsEndToEnd runs the server with --verify-commits: an
// unsigned head is refused and shown in /api/status, the last good commit
// keeps serving, and a commit signed with ssh-keygen, as git signs with
// gpg.format=ssh, is served.
func TestSignedCommitsEndToEnd(t *testing.T) {
	signer := testgitsig.NewSSHKeygen(t)
	allowed := filepath.Join(t.TempDir(), "allowed_signers")
	if err := os.WriteFile(allowed, []byte("dev@example.com "+signer.Public+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	kr, err := commitsig.Load(allowed)
	if err != nil {
		t.Fatal(err)
	}
	img := testrepo.Image(t, espimage.ESP8266, "lamp", "1.0.0", 4096)
	repo := testrepo.New(t)
	repo.Signer = signer
	repo.WriteString("platforms/lamp.toml", "chip = \"esp8266\"\n[[release]]\nversion = \"1.0.0\"\nfile = \"fw/lamp.bin\"\n")
	repo.WriteString("devices/all.toml", "[[device]]\nmac = \"18:FE:34:A1:00:01\"\nplatform = \"lamp\"\n")
	repo.Write("fw/lamp.bin", img)
	good := repo.CommitPush("signed with ssh-keygen")
	ts := startServer(t, repo.Bare, slog.New(slog.DiscardHandler), func(cfg *server.Config) { cfg.Store.Commits = kr })
	waitUntil(t, "signed commit served", func() bool { return ts.status(t).Commit == good })
	if st := ts.status(t); !strings.HasPrefix(st.SignedBy, "ssh SHA256:") || !strings.HasSuffix(st.SignedBy, "(dev@example.com)") {
		t.Errorf("signed_by %q", st.SignedBy)
	}

	repo.Signer = nil
	repo.WriteString("platforms/lamp.toml", "chip = \"esp8266\"\n[[release]]\nversion = \"9.9.9\"\nfile = \"fw/lamp.bin\"\n")
	bad := repo.CommitPush("unsigned")
	ts.push(t, bad)
	waitUntil(t, "unsigned commit rejected", func() bool { return ts.status(t).RejectedCommit == bad })
	raw := ts.rawStatus(t)
	for _, want := range []string{`"rejected_commit": "` + bad + `"`, `"rejected_reason": "commit is not signed"`, `"commit": "` + good + `"`} {
		if !strings.Contains(raw, want) {
			t.Errorf("/api/status lacks %s:\n%s", want, raw)
		}
	}
	if res, body := ts.deviceGet(t, "/update", esp8266("18:FE:34:A1:00:01", "0.1.0")); res.StatusCode != 200 || !bytes.Equal(body, img) || res.Header.Get("x-MD5") != md5hex(img) {
		t.Errorf("device got %d, want 1.0.0 from the signed commit", res.StatusCode)
	}
}

func (ts *testServer) rawStatus(t testing.TB) string {
	t.Helper()
	res, err := http.Get("http://" + ts.addr + "/api/status")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestVerifyCommitsFlag(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "allowed_signers")
	if err := os.WriteFile(empty, []byte("# nobody\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errs := runCLI(t, "serve", "--repo", t.TempDir(), "--data", t.TempDir(), "--verify-commits", empty)
	if code == 0 || !strings.Contains(errs, "no keys") {
		t.Errorf("exit %d: %s", code, errs)
	}
}
