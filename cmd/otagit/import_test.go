package main

import (
	"bytes"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/otagit/otagit/espimage"
	"github.com/otagit/otagit/internal/testrepo"
)

// The fixtures below are written the way each old server writes its data:
// platforms.yml as PyYAML's yaml.dump(default_flow_style=False) does,
// SQLite files with the schema the servers create (Flask-SQLAlchemy's
// create_all for the Flask fork's models; docker-fuota-server's CREATE
// TABLE), binaries named as the servers name them.

func buildImage(t testing.TB, chip espimage.Chip, project, version string) []byte {
	t.Helper()
	img, err := espimage.Build(espimage.BuildOptions{Chip: chip, ProjectName: project, Version: version, Arduino: chip == espimage.ESP8266})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// flaskPlatformsYML is bin/platforms.yml after creating two platforms,
// uploading smart-lamp 1.2.0 (the server names it smart-lamp_1_2_0.bin
// and deletes the older one) and whitelisting two MACs. PyYAML quotes a
// MAC that would read as a number.
const flaskPlatformsYML = `office-sensor:
  downloads: 0
  file: null
  uploaded: null
  version: null
  whitelist: null
smart-lamp:
  downloads: 3
  file: smart-lamp_1_2_0.bin
  uploaded: '2019-05-01'
  version: 1.2.0
  whitelist:
  - 18fe34a10001
  - '001122334455'
weird_name:
  downloads: 0
  file: null
  uploaded: null
  version: null
  whitelist:
  - 18fe34a100ff
`

func flaskYAMLSource(t *testing.T) (src string, lamp []byte) {
	src = filepath.Join(t.TempDir(), "esp-update-server")
	lamp = buildImage(t, espimage.ESP8266, "smart-lamp", "1.2.0")
	writeFile(t, filepath.Join(src, "bin", "platforms.yml"), []byte(flaskPlatformsYML))
	writeFile(t, filepath.Join(src, "bin", "smart-lamp_1_2_0.bin"), lamp)
	return src, lamp
}

// The tables Flask-SQLAlchemy's create_all makes from the fork's
// models.py (User, Platform, Device).
const flaskSchema = `
CREATE TABLE user (
	id INTEGER NOT NULL, email VARCHAR(100), password VARCHAR(100), name VARCHAR(1000), admin BOOLEAN,
	PRIMARY KEY (id), UNIQUE (email));
CREATE TABLE platform (
	id INTEGER NOT NULL, name VARCHAR(100), version VARCHAR(100), uploaded DATETIME, notes VARCHAR(1000),
	file VARCHAR(100), downloads INTEGER, PRIMARY KEY (id), UNIQUE (name));
CREATE TABLE device (
	id INTEGER NOT NULL, type INTEGER, version VARCHAR(100), "IP" VARCHAR(100),
	first_seen DATETIME DEFAULT (CURRENT_TIMESTAMP), last_seen DATETIME DEFAULT (CURRENT_TIMESTAMP),
	notes VARCHAR(1000), mac VARCHAR(17) NOT NULL, PRIMARY KEY (id), FOREIGN KEY(type) REFERENCES platform (id));
`

const flaskAdminHash = "sha256$Xy12$0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func sqliteExec(t testing.TB, file string, stmts ...string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", file)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func flaskDBSource(t *testing.T) (src string, lamp []byte) {
	src = filepath.Join(t.TempDir(), "esp-update-server")
	lamp = buildImage(t, espimage.ESP32, "smart-lamp", "2.0.0")
	writeFile(t, filepath.Join(src, "bin", "smart-lamp_2_0_0.bin"), lamp)
	sqliteExec(t, filepath.Join(src, "bin", "db.sqlite"), flaskSchema,
		`INSERT INTO user VALUES (1, 'admin@example.com', '`+flaskAdminHash+`', 'admin', 1)`,
		`INSERT INTO platform VALUES (1, 'smart-lamp', '2.0.0', '2024-03-01 10:00:00', 'hall lamps', 'smart-lamp_2_0_0.bin', 4)`,
		`INSERT INTO platform VALUES (2, 'office-sensor', NULL, NULL, NULL, NULL, 0)`,
		// The server stores the MAC as the header's hex digits, lower case.
		`INSERT INTO device (id, type, version, "IP", mac) VALUES (1, 1, '1.0.0', '10.0.0.5', '240ac4b20001')`,
		`INSERT INTO device (id, type, version, "IP", mac) VALUES (2, NULL, '1.0.0', '10.0.0.6', '240ac4b20099')`)
	return src, lamp
}

// fuotaSource is docker-fuota-server's data folder: devices.db, with the
// table server.py creates and rows as PUT /devices/<id> writes them, and
// the update file PUT /files/<path> stored.
func fuotaSource(t *testing.T) (src string, station []byte) {
	src = filepath.Join(t.TempDir(), "data")
	station = buildImage(t, espimage.ESP32, "weather-station", "2.1.0")
	writeFile(t, filepath.Join(src, "ws-2.1.0.bin"), station)
	sqliteExec(t, filepath.Join(src, "devices.db"),
		`create table if not exists device_app(device_id text primary key asc, app_ver text, update_file_path text)`,
		`insert into device_app values("00001", "2.0.0", "ws-2.1.0.bin")`,
		`insert into device_app values("240AC4B20004", "2.0.0", "ws-2.1.0.bin")`,
		`insert into device_app values("00002", "2.0.0", "missing.bin")`)
	return src, station
}

// treeSum hashes every file under dir, .git included: what a re-run must
// leave byte for byte.
func treeSum(t testing.TB, dir string) map[string]string {
	t.Helper()
	sums := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		s := sha256.Sum256(data)
		rel, _ := filepath.Rel(dir, p)
		sums[rel] = hex.EncodeToString(s[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sums
}

// importInto runs `otagit import` into repo's work tree, checks that a
// second run changes nothing, byte for byte, that validate passes, and
// commits and pushes the result. It returns the first run's output.
func importInto(t *testing.T, repo *testrepo.Repo, args ...string) string {
	t.Helper()
	code, out, errOut := runCLI(t, append([]string{"import"}, append(args, repo.Work)...)...)
	if code != 0 {
		t.Fatalf("import: exit %d\n%s\n%s", code, out, errOut)
	}
	before := treeSum(t, repo.Work)
	code, again, errOut := runCLI(t, append([]string{"import"}, append(args, repo.Work)...)...)
	if code != 0 || !strings.Contains(again, "nothing new to add") {
		t.Fatalf("second import: exit %d\n%s\n%s", code, again, errOut)
	}
	after := treeSum(t, repo.Work)
	if len(before) != len(after) {
		t.Errorf("second import: %d files, then %d", len(before), len(after))
	}
	for f, s := range before {
		if after[f] != s {
			t.Errorf("second import changed %s", f)
		}
	}
	if code, vout, verr := runCLI(t, "validate", repo.Work); code != 0 {
		t.Fatalf("validate: exit %d\n%s\n%s", code, vout, verr)
	}
	repo.CommitPush("import")
	return out
}

func mustContain(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s lacks %q:\n%s", what, sub, s)
		}
	}
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// servedAfterImport starts the server on repo and waits for its commit.
func servedAfterImport(t *testing.T, repo *testrepo.Repo) *testServer {
	t.Helper()
	ts := startServer(t, repo.Bare, quietLog())
	waitUntil(t, "the import served", func() bool { return ts.status(t).Commit != "" })
	return ts
}

// answersAsFlask checks what the Flask server answered a whitelisted
// device: the binary for an older version, 304 for the current one.
func answersAsFlask(t *testing.T, ts *testServer, dev, mac, older, current string, bin []byte, headers func(mac, version string) [][2]string) {
	t.Helper()
	res, body := ts.deviceGet(t, "/update?dev="+dev+"&ver="+older, headers(mac, older))
	if res.StatusCode != 200 || !bytes.Equal(body, bin) {
		t.Errorf("%s %s on %s: %d, %d bytes; want 200 with the imported binary", dev, mac, older, res.StatusCode, len(body))
	}
	if res, _ := ts.deviceGet(t, "/update?dev="+dev+"&ver="+current, headers(mac, current)); res.StatusCode != 304 {
		t.Errorf("%s %s on %s: %d, want 304", dev, mac, current, res.StatusCode)
	}
}

func TestImportFlaskYAML(t *testing.T) {
	src, lamp := flaskYAMLSource(t)
	repo := testrepo.New(t)
	out := importInto(t, repo, "--from", "flask", src)
	mustContain(t, "import output", out,
		"added   platform smart-lamp (esp8266, from the image header of bin/smart-lamp_1_2_0.bin)",
		"added   release smart-lamp 1.2.0 (firmware/smart-lamp/smart-lamp-1.2.0.bin",
		"added   device 18:FE:34:A1:00:01 (smart-lamp)",
		"added   device 00:11:22:33:44:55 (smart-lamp)",
		"platform office-sensor: no binary to read its chip from; give it with --chip",
		`platform "weird_name": otagit platform names are`,
		"platforms.yml: weird_name whitelist 18fe34a100ff: platform \"weird_name\" was not carried over",
		"ADMIN_PASSWORD")
	if got := mustRead(t, repo, "platforms/smart-lamp.toml"); got != "chip = \"esp8266\"\n\n[[release]]\nversion = \"1.2.0\"\nfile = \"firmware/smart-lamp/smart-lamp-1.2.0.bin\"\n" {
		t.Errorf("platforms/smart-lamp.toml:\n%s", got)
	}
	ts := servedAfterImport(t, repo)
	for _, mac := range []string{"18:FE:34:A1:00:01", "00:11:22:33:44:55"} {
		answersAsFlask(t, ts, "smart-lamp", mac, "1.1.0", "1.2.0", lamp, esp8266)
	}
	// The old server answered 400 to a device on no whitelist; otagit
	// refuses it too.
	if res, _ := ts.deviceGet(t, "/update?dev=smart-lamp&ver=1.1.0", esp8266("18:FE:34:A1:00:02", "1.1.0")); res.StatusCode != 403 {
		t.Errorf("a device on no whitelist: %d, want 403", res.StatusCode)
	}

	// --chip brings the platform nothing was uploaded to; the rest stays.
	before := mustRead(t, repo, "platforms/smart-lamp.toml")
	code, out, errOut := runCLI(t, "import", "--from", "flask", "--chip", "esp8266", src, repo.Work)
	if code != 0 {
		t.Fatalf("import --chip: %d\n%s\n%s", code, out, errOut)
	}
	mustContain(t, "import --chip output", out, "added   platform office-sensor (esp8266, from --chip; no release)", "kept    3 ")
	if mustRead(t, repo, "platforms/smart-lamp.toml") != before {
		t.Errorf("import --chip changed platforms/smart-lamp.toml")
	}
}

func TestImportFlaskSQLite(t *testing.T) {
	src, lamp := flaskDBSource(t)
	repo := testrepo.New(t)
	out := importInto(t, repo, "--from", "flask", filepath.Join(src, "bin"))
	mustContain(t, "import output", out,
		"added   platform smart-lamp (esp32,",
		"added   release smart-lamp 2.0.0",
		"added   device 24:0A:C4:B2:00:01 (smart-lamp)",
		"device 240ac4b20099 asked for updates but is on no platform's whitelist",
		"1 web interface user(s) and their password hashes are not imported",
		"ADMIN_PASSWORD")
	// No credential of the old server is in the repository.
	for f := range treeSum(t, repo.Work) {
		if strings.HasPrefix(f, ".git") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(repo.Work, f))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte(flaskAdminHash)) || bytes.Contains(data, []byte("admin@example.com")) {
			t.Errorf("%s holds the old server's admin credentials", f)
		}
	}
	ts := servedAfterImport(t, repo)
	answersAsFlask(t, ts, "smart-lamp", "24:0A:C4:B2:00:01", "1.0.0", "2.0.0", lamp, esp32)
}

func TestImportFUOTA(t *testing.T) {
	src, station := fuotaSource(t)
	repo := testrepo.New(t)
	out := importInto(t, repo, "--from", "fuota", src)
	mustContain(t, "import output", out,
		"added   platform weather-station (esp32, from the image header of data/ws-2.1.0.bin; name from its app descriptor's project name \"weather-station\")",
		"added   release weather-station 2.1.0 (firmware/weather-station/weather-station-2.1.0.bin, from data/ws-2.1.0.bin; version from the app descriptor)",
		"added   device 24:0A:C4:B2:00:04 (weather-station)",
		"(weather-station, name 00001)",
		"data/missing.bin: open",
		"devices.db: device 00002: its binary was not carried over",
		"US_AUTH_PASSWORD")
	ts := servedAfterImport(t, repo)
	for _, id := range []string{"00001", "240AC4B20004"} {
		// As docker-fuota-server: 200 with the file's path for the
		// version the row names, then the file; 204 once updated.
		res, body := raw(t, ts.addr, espHTTPClientGet(ts.addr, "/devices/"+id+"?app_ver=2.0.0"))
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/csv" {
			t.Fatalf("%s on 2.0.0: %d %q: %s", id, res.StatusCode, res.Header.Get("Content-Type"), body)
		}
		res, file := raw(t, ts.addr, espHTTPClientGet(ts.addr, "/files/"+string(body)))
		if res.StatusCode != 200 || !bytes.Equal(file, station) {
			t.Errorf("%s: /files/%s: %d, %d bytes; want the imported binary", id, body, res.StatusCode, len(file))
		}
		if res, body := raw(t, ts.addr, espHTTPClientGet(ts.addr, "/devices/"+id+"?app_ver=2.1.0")); res.StatusCode != 204 {
			t.Errorf("%s on 2.1.0: %d %q, want 204", id, res.StatusCode, body)
		}
	}
	if res, _ := raw(t, ts.addr, espHTTPClientGet(ts.addr, "/devices/00002?app_ver=2.0.0")); res.StatusCode != 404 {
		t.Errorf("device 00002, not carried over: %d, want 404", res.StatusCode)
	}
}

func TestImportAutoConnect(t *testing.T) {
	src := filepath.Join(t.TempDir(), "catalog")
	v1 := buildImage(t, espimage.ESP8266, "thermostat", "1.0.0")
	v2 := buildImage(t, espimage.ESP8266, "thermostat", "1.1.0")
	writeFile(t, filepath.Join(src, "thermostat", "build-a.bin"), v1)
	writeFile(t, filepath.Join(src, "thermostat", "build-b.bin"), v2)
	writeFile(t, filepath.Join(src, "thermostat", "notes.txt"), []byte("hello"))
	writeFile(t, filepath.Join(src, "thermostat", "spiffs.bin"), bytes.Repeat([]byte{0xFF}, 4096))
	writeFile(t, filepath.Join(src, "thermostat", "noversion.bin"), buildImage(t, espimage.ESP8266, "thermostat", ""))
	repo := testrepo.New(t)
	out := importInto(t, repo, "--from", "autoconnect", src)
	mustContain(t, "import output", out,
		"added   release thermostat 1.0.0 (firmware/thermostat/thermostat-1.0.0.bin, from thermostat/build-a.bin; version from \"v1.0.0\" in the binary)",
		"added   release thermostat 1.1.0",
		"thermostat/notes.txt: not a .bin file",
		"thermostat/spiffs.bin: first byte 0xFF, not 0xE9",
		"thermostat/noversion.bin: cannot tell the version")
	// AutoConnect has no whitelist: list a device, then it is served.
	repo.WriteString("devices/hall.toml", "[[device]]\nmac = \"18:FE:34:A1:00:07\"\nplatform = \"thermostat\"\n")
	repo.CommitPush("whitelist")
	ts := servedAfterImport(t, repo)
	waitUntil(t, "the whitelist served", func() bool {
		res, _ := ts.deviceGet(t, "/update?dev=thermostat&ver=1.1.0", esp8266("18:FE:34:A1:00:07", "1.1.0"))
		return res.StatusCode == 304
	})
	answersAsFlask(t, ts, "thermostat", "18:FE:34:A1:00:07", "1.0.0", "1.1.0", v2, esp8266)
}

func TestImportDir(t *testing.T) {
	src := filepath.Join(t.TempDir(), "www")
	old := buildImage(t, espimage.ESP8266, "smart-plug", "1.0.0")
	cur := buildImage(t, espimage.ESP8266, "smart-plug", "1.1.0")
	writeFile(t, filepath.Join(src, "smart-plug-1.0.0.bin"), old)
	writeFile(t, filepath.Join(src, "smart-plug-1.1.0.bin"), cur)
	// The per-device setup: <mac>.bin and the version it holds.
	writeFile(t, filepath.Join(src, "18fe34a10021.bin"), old)
	writeFile(t, filepath.Join(src, "18fe34a10021.version"), []byte("1.0.0\n"))
	writeFile(t, filepath.Join(src, "18fe34a10022.bin"), cur)
	writeFile(t, filepath.Join(src, "18fe34a10022.version"), []byte("v1.1.0"))
	writeFile(t, filepath.Join(src, "18fe34a10023.bin"), cur)
	writeFile(t, filepath.Join(src, "18fe34a10023.version"), []byte("latest"))
	writeFile(t, filepath.Join(src, "index.html"), []byte("<html>"))
	repo := testrepo.New(t)
	out := importInto(t, repo, "--from", "dir", "--platform", "smart-plug", src)
	mustContain(t, "import output", out,
		"added   release smart-plug 1.0.0",
		"added   release smart-plug 1.1.0",
		"added   device 18:FE:34:A1:00:21 (smart-plug, pinned to 1.0.0)",
		"added   device 18:FE:34:A1:00:22 (smart-plug)",
		`18fe34a10023.version: "latest" is not a semantic version`,
		"index.html: not a .bin file",
		"kept    2 ") // the <mac>.bin files are the releases already added
	ts := servedAfterImport(t, repo)
	answersAsFlask(t, ts, "smart-plug", "18:FE:34:A1:00:22", "1.0.0", "1.1.0", cur, esp8266)
	// The device that nginx served 1.0.0 stays on it.
	if res, body := ts.deviceGet(t, "/update?dev=smart-plug&ver=0.9.0", esp8266("18:FE:34:A1:00:21", "0.9.0")); res.StatusCode != 200 || !bytes.Equal(body, old) {
		t.Errorf("pinned device on 0.9.0: %d, %d bytes; want 1.0.0", res.StatusCode, len(body))
	}
	if res, _ := ts.deviceGet(t, "/update?dev=smart-plug&ver=1.0.0", esp8266("18:FE:34:A1:00:21", "1.0.0")); res.StatusCode != 304 {
		t.Errorf("pinned device on 1.0.0: %d, want 304", res.StatusCode)
	}
}
