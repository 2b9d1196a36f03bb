package importer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
	_ "modernc.org/sqlite" // the pure-Go SQLite driver: no cgo in the build

	"github.com/otagit/otagit/rollout"
)

// The Flask esp-update-server (seeds 000 and 001) keeps everything in its
// bin/ folder: the first version in bin/platforms.yml, written by PyYAML's
// yaml.dump:
//
//	smart-lamp:
//	  downloads: 3
//	  file: smart-lamp_1_2_0.bin     # in bin/
//	  uploaded: '2019-05-01'
//	  version: 1.2.0                 # null until a binary is uploaded
//	  whitelist:                     # null or bare lower-case hex MACs
//	  - 18fe34a10001
//
// and the fork with a login in bin/db.sqlite, made by Flask-SQLAlchemy
// from its models (tables user, platform and device; a device belongs to
// the platform whose id its "type" holds, and is whitelisted only then).
// Each platform serves one binary, its newest: a device on an older
// version gets it, others 304.

const (
	flaskYAML = "platforms.yml"
	flaskDB   = "db.sqlite"
	// maxYAML bounds the platforms.yml read: the server rewrites the file
	// on every download, so a real one is small.
	maxYAML = 16 << 20
)

// flaskPlatform is one platform of platforms.yml or db.sqlite.
type flaskPlatform struct {
	Name, Version, File, Notes string
	Whitelist                  []string
}

// readFlask reads a Flask server's bin/ folder (src may be the folder or
// the directory holding it).
func readFlask(src string) (*Found, error) {
	bin := src
	if _, err := os.Stat(filepath.Join(src, "bin")); err == nil {
		if !exists(filepath.Join(src, flaskYAML)) && !exists(filepath.Join(src, flaskDB)) {
			bin = filepath.Join(src, "bin")
		}
	}
	var (
		ps    []flaskPlatform
		from  string
		found = &Found{Kind: "flask"}
		err   error
	)
	switch {
	case exists(filepath.Join(bin, flaskYAML)):
		from = flaskYAML
		data, rerr := readBounded(filepath.Join(bin, flaskYAML), maxYAML)
		if rerr != nil {
			return nil, rerr
		}
		if ps, err = parseFlaskPlatforms(data); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(bin, flaskYAML), err)
		}
		if exists(filepath.Join(bin, "users.yml")) {
			found.Skipped = append(found.Skipped, "users.yml: the web interface's users and passwords are not imported")
		}
		found.Notes = append(found.Notes, "download counts and upload dates are not imported: otagit records device check-ins, and dates releases by the commit that adds them")
	case exists(filepath.Join(bin, flaskDB)):
		from = flaskDB
		var users int
		if ps, users, err = readFlaskDB(filepath.Join(bin, flaskDB), &found.Skipped); err != nil {
			return nil, err
		}
		if users > 0 {
			found.Skipped = append(found.Skipped, fmt.Sprintf("%s: %d web interface user(s) and their password hashes are not imported", flaskDB, users))
		}
		found.Notes = append(found.Notes, "device notes, IP addresses and last-seen times are not imported: otagit records device check-ins")
	default:
		return nil, fmt.Errorf("%s: no %s or %s (give the server's bin folder)", src, flaskYAML, flaskDB)
	}
	found.Notes = append(found.Notes, "the admin login (ADMIN_EMAIL/ADMIN_PASSWORD) is not imported: otagit has no admin users; the config repository's Git access controls who changes the fleet, and device credentials are set on the server (README: Device authentication: otagit hash-password, then serve --device-auth FILE)")
	for _, p := range ps {
		where := from + ": " + p.Name
		found.Platforms = append(found.Platforms, Platform{Name: p.Name, Description: p.Notes})
		if p.Version != "" && p.File != "" {
			v, err := rollout.ParseReleaseVersion(p.Version)
			file, ferr := local(bin, p.File)
			switch {
			case err != nil:
				found.Skipped = append(found.Skipped, fmt.Sprintf("%s: version %q is not a semantic version", where, p.Version))
			case ferr != nil:
				found.Skipped = append(found.Skipped, fmt.Sprintf("%s: file %v", where, ferr))
			default:
				found.Releases = append(found.Releases, Release{Platform: p.Name, Version: v, File: file, From: filepath.Join(filepath.Base(bin), p.File)})
			}
		}
		for _, m := range p.Whitelist {
			if _, err := rollout.ParseMAC(m); err != nil {
				found.Skipped = append(found.Skipped, fmt.Sprintf("%s: whitelist entry %q is not a MAC", where, m))
				continue
			}
			found.Devices = append(found.Devices, Device{ID: m, Platform: p.Name, From: where + " whitelist " + m})
		}
	}
	return found, nil
}

// parseFlaskPlatforms reads platforms.yml as the Flask server writes it,
// in name order. Names are lower-cased as the server does when it creates
// a platform and when a device asks. Entries are read as text, whatever
// YAML type they resolve to (PyYAML may leave a MAC of digits unquoted).
func parseFlaskPlatforms(data []byte) ([]flaskPlatform, error) {
	var doc map[string]*struct {
		Version   *string   `yaml:"version"`
		File      *string   `yaml:"file"`
		Whitelist []*string `yaml:"whitelist"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	out := make([]flaskPlatform, 0, len(doc))
	for _, name := range sortedKeys(doc) {
		e := doc[name]
		p := flaskPlatform{Name: strings.ToLower(name)}
		if e != nil {
			p.Version, p.File = deref(e.Version), deref(e.File)
			for _, m := range e.Whitelist {
				if s := deref(m); s != "" {
					p.Whitelist = append(p.Whitelist, s)
				}
			}
		}
		out = append(out, p)
	}
	return out, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return strings.TrimSpace(*s)
}

// dbTimeout bounds reading a source database.
const dbTimeout = time.Minute

// readFlaskDB reads the fork's db.sqlite, read-only. Devices that never
// got a platform (the server records every device that asks) are listed
// in skipped. It returns the platforms and how many users there are.
func readFlaskDB(file string, skipped *[]string) ([]flaskPlatform, int, error) {
	db, err := openSQLite(file)
	if err != nil {
		return nil, 0, err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), dbTimeout)
	defer cancel()
	rows, err := db.QueryContext(ctx, `SELECT id, name, version, file, notes FROM platform ORDER BY id`)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", file, err)
	}
	byID := map[int64]*flaskPlatform{}
	var ps []*flaskPlatform
	for rows.Next() {
		var id int64
		var name, version, bin, notes sql.NullString
		if err := rows.Scan(&id, &name, &version, &bin, &notes); err != nil {
			rows.Close()
			return nil, 0, fmt.Errorf("%s: platform: %w", file, err)
		}
		p := &flaskPlatform{Name: strings.ToLower(strings.TrimSpace(name.String)), Version: strings.TrimSpace(version.String),
			File: strings.TrimSpace(bin.String), Notes: notes.String}
		byID[id] = p
		ps = append(ps, p)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, 0, fmt.Errorf("%s: platform: %w", file, err)
	}
	rows, err = db.QueryContext(ctx, `SELECT mac, type FROM device ORDER BY id`)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", file, err)
	}
	for rows.Next() {
		var mac sql.NullString
		var typ sql.NullInt64
		if err := rows.Scan(&mac, &typ); err != nil {
			rows.Close()
			return nil, 0, fmt.Errorf("%s: device: %w", file, err)
		}
		p := byID[typ.Int64]
		if !typ.Valid || p == nil {
			*skipped = append(*skipped, fmt.Sprintf("%s: device %s asked for updates but is on no platform's whitelist", flaskDB, mac.String))
			continue
		}
		p.Whitelist = append(p.Whitelist, mac.String)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, 0, fmt.Errorf("%s: device: %w", file, err)
	}
	var users int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM user`).Scan(&users); err != nil {
		users = 0 // an older database without logins
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Name < ps[j].Name })
	out := make([]flaskPlatform, len(ps))
	for i, p := range ps {
		out[i] = *p
	}
	return out, users, nil
}

// openSQLite opens a source database read-only: the import never changes
// the old server's data.
func openSQLite(file string) (*sql.DB, error) {
	if _, err := os.Stat(file); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", "file:"+filepath.ToSlash(abs)+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return db, nil
}

func exists(file string) bool {
	_, err := os.Stat(file)
	return err == nil
}

// readBounded reads file, refusing one larger than limit bytes.
func readBounded(file string, limit int64) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", file, limit)
	}
	return data, nil
}
