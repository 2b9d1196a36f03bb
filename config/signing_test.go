package config

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/otagit/otagit/artifact"
	"github.com/otagit/otagit/espimage"
	"github.com/otagit/otagit/imagesig"
	"github.com/otagit/otagit/internal/testsign"
)

// signedFiles is a config with one platform per signature format, each
// binary signed with the key its platform names.
func signedFiles(t testing.TB) fstest.MapFS {
	lamp := image(t, espimage.ESP8266, "lamp", "1.0.0")
	station := image(t, espimage.ESP32S3, "station", "2.0.0")
	fota := image(t, espimage.ESP32, "fota", "3.0.0")
	return fstest.MapFS{
		"platforms/lamp.toml": {Data: []byte(`chip = "esp8266"
signing = "esp8266"
signing_key = "lamp"

[[release]]
version = "1.0.0"
file = "fw/lamp.bin"
`)},
		"platforms/station.toml": {Data: []byte(`chip = "esp32s3"
signing = "secure-boot-v2"
signing_key = ["station-old", "station"]

[[release]]
version = "2.0.0"
file = "fw/station.bin"
`)},
		"platforms/fota.toml": {Data: []byte(`chip = "esp32"
signing = "esp32fota"
signing_key = "fota"

[[release]]
version = "3.0.0"
file = "fw/fota.bin"
`)},
		"devices/all.toml": {Data: []byte(`[[device]]
mac = "AA:BB:CC:DD:EE:01"
platform = "lamp"
`)},
		"fw/lamp.bin":    {Data: testsign.ESP8266(t, testsign.RSA2048, lamp)},
		"fw/station.bin": {Data: testsign.SecureBootV2(t, station, testsign.P256)},
		"fw/fota.bin":    {Data: testsign.FOTA(t, testsign.RSA4096, fota)},
	}
}

// serverTrust trusts the keys signedFiles is signed with, and one more.
func serverTrust(t testing.TB, require ...string) *Trust {
	var keys []imagesig.Key
	for name, k := range map[string]testsign.Key{"lamp": testsign.RSA2048, "station": testsign.P256, "station-old": testsign.P384, "fota": testsign.RSA4096} {
		key, err := imagesig.ParseKey(name, testsign.PublicPEM(t, k))
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, key)
	}
	kr, err := imagesig.NewKeyring(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return &Trust{Keys: kr, Require: require}
}

func problemLines(ps Problems) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.String())
	}
	return strings.Join(s, "\n")
}

func TestSignedFirmware(t *testing.T) {
	res := LoadTree(signedFiles(t), LoadOptions{Inspector: artifact.ReadInspector{}, Trust: serverTrust(t, "*")})
	if len(res.Problems) != 0 || res.Fleet == nil {
		t.Fatalf("problems:\n%s", problemLines(res.Problems))
	}
	// The esp32FOTA image's header is read behind the signature.
	a := res.Fleet.Platform("fota").Releases[0].Artifact
	if a.FlashSize != espimage.DefaultBuildFlashSize {
		t.Errorf("esp32fota release flash size %d, want %d from the image behind the signature", a.FlashSize, espimage.DefaultBuildFlashSize)
	}
}

func TestSignedFirmwareProblems(t *testing.T) {
	lamp := image(t, espimage.ESP8266, "lamp", "1.0.0")
	tests := []struct {
		name   string
		change func(fstest.MapFS)
		trust  *Trust
		want   []string
	}{
		{
			name:   "unsigned",
			change: func(m fstest.MapFS) { m["fw/lamp.bin"] = &fstest.MapFile{Data: lamp} },
			want: []string{
				`platforms/lamp.toml:7: release[0].file: binary "fw/lamp.bin": not signed: no signature trailer: the last 4 bytes (00 00 00 d0) are not the length of a signature (the ESP8266 Updater reads the signature's length there)`,
			},
		},
		{
			name: "signed by a key the server does not trust",
			change: func(m fstest.MapFS) {
				m["fw/lamp.bin"] = &fstest.MapFile{Data: testsign.ESP8266(t, testsign.RSA2048B, lamp)}
			},
			want: []string{
				`platforms/lamp.toml:7: release[0].file: binary "fw/lamp.bin": not signed by a trusted key: the signature is 256 bytes, and it does not verify with key "lamp"`,
			},
		},
		{
			name: "changed after signing",
			change: func(m fstest.MapFS) {
				b := m["fw/station.bin"].Data
				b[100] ^= 1
			},
			want: []string{
				`platforms/station.toml:7: release[0].file: binary "fw/station.bin": malformed signature: signature block 0 signs an image with digest`,
			},
		},
		{
			name: "key the server does not have",
			change: func(m fstest.MapFS) {
				m["platforms/lamp.toml"].Data = []byte(strings.Replace(string(m["platforms/lamp.toml"].Data), `"lamp"`, `"lamp-2027"`, 1))
			},
			want: []string{
				`platforms/lamp.toml:3: signing_key: no trusted key "lamp-2027" on this server (trusted: fota, lamp, station, station-old)`,
			},
		},
		{
			name:   "server with no keys",
			change: func(m fstest.MapFS) {},
			trust:  &Trust{},
			want: []string{
				`platforms/fota.toml:3: signing_key: no trusted key "fota": the server trusts no signing keys (give it --signing-keys DIR with fota.pem)`,
				`platforms/lamp.toml:3: signing_key: no trusted key "lamp": the server trusts no signing keys (give it --signing-keys DIR with lamp.pem)`,
				`platforms/station.toml:3: signing_key: no trusted key "station-old": the server trusts no signing keys (give it --signing-keys DIR with station-old.pem)`,
				`platforms/station.toml:3: signing_key: no trusted key "station": the server trusts no signing keys (give it --signing-keys DIR with station.pem)`,
			},
		},
		{
			name: "the server requires a signature the file drops",
			change: func(m fstest.MapFS) {
				m["platforms/lamp.toml"].Data = []byte("chip = \"esp8266\"\n[[release]]\nversion = \"1.0.0\"\nfile = \"fw/plain.bin\"\n")
				m["fw/plain.bin"] = &fstest.MapFile{Data: lamp}
			},
			want: []string{
				`platforms/lamp.toml: signing: this server requires platform lamp to be signed: set signing (esp8266, secure-boot-v2, esp32fota) and signing_key (one of the keys the server trusts)`,
			},
		},
		{
			name: "a platform the server does not require may drop it",
			change: func(m fstest.MapFS) {
				m["platforms/lamp.toml"].Data = []byte("chip = \"esp8266\"\n[[release]]\nversion = \"1.0.0\"\nfile = \"fw/plain.bin\"\n")
				m["fw/plain.bin"] = &fstest.MapFile{Data: lamp}
			},
			trust: serverTrust(t, "station", "fo*"),
		},
		{
			name: "key of the wrong kind, format for another chip, unknown format",
			change: func(m fstest.MapFS) {
				m["platforms/lamp.toml"].Data = []byte(strings.Replace(string(m["platforms/lamp.toml"].Data), `signing_key = "lamp"`, `signing_key = "station"`, 1))
				m["platforms/fota.toml"].Data = []byte(strings.Replace(string(m["platforms/fota.toml"].Data), `"esp32fota"`, `"esp8266"`, 1))
				m["platforms/station.toml"].Data = []byte(strings.Replace(string(m["platforms/station.toml"].Data), `"secure-boot-v2"`, `"secure-boot-v1"`, 1))
			},
			want: []string{
				`platforms/fota.toml:2: signing: esp8266 signatures are checked by ESP8266 devices, but platform fota is esp32`,
				`platforms/fota.toml:7: release[0].file: binary "fw/fota.bin": not signed: no signature trailer: the last 4 bytes (a5 3e 50 d2) are not the length of a signature (the ESP8266 Updater reads the signature's length there)`,
				`platforms/lamp.toml:3: signing_key: key "station" is ECDSA P-256: ESP8266 signed updates are RSA (tools/signing.py)`,
				`platforms/station.toml:2: signing: unknown signature format "secure-boot-v1" (known: esp8266, secure-boot-v2, esp32fota)`,
			},
		},
		{
			name: "signing_key alone, or of the wrong type",
			change: func(m fstest.MapFS) {
				m["platforms/lamp.toml"].Data = []byte(strings.Replace(string(m["platforms/lamp.toml"].Data), `signing = "esp8266"`, ``, 1))
				m["platforms/fota.toml"].Data = []byte(strings.Replace(string(m["platforms/fota.toml"].Data), `signing_key = "fota"`, `signing_key = 3`, 1))
			},
			trust: serverTrust(t),
			want: []string{
				`platforms/fota.toml:3: signing_key: must be a key name or an array of key names, not an integer`,
				`platforms/lamp.toml:3: signing_key: set signing too: the format the binaries are signed in (esp8266, secure-boot-v2, esp32fota)`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := signedFiles(t)
			tt.change(files)
			trust := tt.trust
			if trust == nil {
				trust = serverTrust(t, "*")
			}
			res := LoadTree(files, LoadOptions{Inspector: artifact.ReadInspector{}, Trust: trust})
			got := problemLines(res.Problems)
			want := strings.Join(tt.want, "\n")
			if len(tt.want) == 1 && strings.HasPrefix(got, want) {
				got = want // the digests in the message differ by run
			}
			if got != want {
				t.Errorf("problems:\ngot:\n%s\nwant:\n%s", got, want)
			}
			if hasErr := len(res.Problems.Errors()) > 0; hasErr != (res.Fleet == nil) {
				t.Errorf("fleet %v with %d errors", res.Fleet != nil, len(res.Problems.Errors()))
			}
		})
	}
}

// TestSignedFirmwareWithoutTrust is `otagit validate` without the
// server's keys: signatures are checked for their format, and a warning
// says who signed is not checked.
func TestSignedFirmwareWithoutTrust(t *testing.T) {
	files := signedFiles(t)
	res := LoadTree(files, LoadOptions{Inspector: artifact.ReadInspector{}})
	if res.Fleet == nil || len(res.Problems) != 3 || len(res.Problems.Warnings()) != 3 {
		t.Fatalf("problems:\n%s", problemLines(res.Problems))
	}
	if got := res.Problems[0].String(); !strings.HasPrefix(got, `platforms/fota.toml:3: warning: signing_key: who signed the binaries is not checked`) {
		t.Errorf("got %q", got)
	}
	files["fw/lamp.bin"] = &fstest.MapFile{Data: image(t, espimage.ESP8266, "lamp", "1.0.0")}
	res = LoadTree(files, LoadOptions{Inspector: artifact.ReadInspector{}})
	if errs := res.Problems.Errors(); len(errs) != 1 || !strings.Contains(errs[0].String(), `binary "fw/lamp.bin": not signed`) {
		t.Errorf("unsigned binary without trust: %s", problemLines(res.Problems))
	}
}

// TestSignatureCheckedOnce loads the same tree twice with one ScanMemo,
// as the server's sync loop does: the second load verifies nothing again.
func TestSignatureCheckedOnce(t *testing.T) {
	fsys := &countingFS{FS: signedFiles(t)}
	opts := LoadOptions{Inspector: artifact.ReadInspector{}, Trust: serverTrust(t), Scans: NewScanMemo()}
	if res := LoadTree(fsys, opts); res.Fleet == nil {
		t.Fatalf("problems:\n%s", problemLines(res.Problems))
	}
	first := fsys.count("fw/station.bin")
	fsys.reset()
	if res := LoadTree(fsys, opts); res.Fleet == nil {
		t.Fatal("second load failed")
	}
	if second := fsys.count("fw/station.bin"); second != first-1 {
		t.Errorf("second load opened the binary %d times, first %d: want one open fewer (no signature check)", second, first)
	}
}

// fakeReleases is a ReleaseSource with one release of one asset.
type fakeReleases struct {
	rel   GitHubRelease
	asset []byte
	dir   string
}

func (f *fakeReleases) Releases(context.Context, string) ([]GitHubRelease, time.Time, error) {
	return []GitHubRelease{f.rel}, time.Time{}, nil
}

func (f *fakeReleases) ReleaseByTag(context.Context, string, string) (GitHubRelease, time.Time, error) {
	return f.rel, time.Time{}, nil
}

// Asset stores the asset as the server's cache does: in a file.
func (f *fakeReleases) Asset(_ context.Context, _ string, a GitHubAsset) (artifact.Blob, error) {
	b, err := artifact.ReadInspector{}.Inspect(fstest.MapFS{a.Name: {Data: f.asset}}, a.Name)
	if err != nil {
		return b, err
	}
	b.File = filepath.Join(f.dir, b.SHA256)
	return b, os.WriteFile(b.File, f.asset, 0o644)
}

// TestSignedGitHubAsset: a GitHub asset that does not verify is not
// served, with a warning, and does not block the commit.
func TestSignedGitHubAsset(t *testing.T) {
	files := signedFiles(t)
	files["platforms/lamp.toml"].Data = append(files["platforms/lamp.toml"].Data, []byte(`
[github]
repo = "acme/lamp"
asset = "lamp-*.bin"
`)...)
	unsigned := image(t, espimage.ESP8266, "lamp", "1.1.0")
	gh := &fakeReleases{
		rel:   GitHubRelease{ID: 1, Tag: "v1.1.0", PublishedAt: time.Now(), Assets: []GitHubAsset{{ID: 2, Name: "lamp-1.1.0.bin", Size: int64(len(unsigned))}}},
		asset: unsigned,
		dir:   t.TempDir(),
	}
	opts := LoadOptions{Inspector: artifact.ReadInspector{}, Trust: serverTrust(t), GitHub: gh}
	res := LoadTree(files, opts)
	if res.Fleet == nil {
		t.Fatalf("problems:\n%s", problemLines(res.Problems))
	}
	if n := len(res.Fleet.Platform("lamp").Releases); n != 1 {
		t.Errorf("lamp has %d releases, want the committed one only", n)
	}
	if got := problemLines(res.Problems); !strings.Contains(got, `warning: github.asset: asset lamp-1.1.0.bin of release v1.1.0 of acme/lamp: not signed: no signature trailer`) || !strings.HasSuffix(got, ": not served") {
		t.Errorf("problems:\n%s", got)
	}
	gh.asset = testsign.ESP8266(t, testsign.RSA2048, unsigned)
	gh.rel.Assets[0].Size = int64(len(gh.asset))
	res = LoadTree(files, opts)
	if res.Fleet == nil || len(res.Fleet.Platform("lamp").Releases) != 2 {
		t.Errorf("signed asset not served: %s", problemLines(res.Problems))
	}
}

var _ fs.FS = (*countingFS)(nil)
