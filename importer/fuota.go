package importer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// docker-fuota-server (seed 004) keeps its data folder as ../data: the
// SQLite file devices.db with one table,
//
//	CREATE TABLE device_app(device_id text primary key asc, app_ver text, update_file_path text)
//
// and the update files, at update_file_path inside the folder. A device
// asking GET /devices/<device_id>?app_ver=<app_ver> with the row's app_ver
// is sent update_file_path (200), with any other version nothing (204).
// The device id is whatever the app's DEV_ID is: a MAC or a name.

const fuotaDB = "devices.db"

// readFUOTA reads docker-fuota-server's data folder src.
func readFUOTA(src string, opts Options) (*Found, error) {
	file := filepath.Join(src, fuotaDB)
	db, err := openSQLite(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (give the server's data folder)", src, err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), dbTimeout)
	defer cancel()
	rows, err := db.QueryContext(ctx, `SELECT device_id, app_ver, update_file_path FROM device_app ORDER BY device_id`)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	found := &Found{Kind: "fuota"}
	files := map[string]bool{}
	for rows.Next() {
		var id, ver, path sql.NullString
		if err := rows.Scan(&id, &ver, &path); err != nil {
			rows.Close()
			return nil, fmt.Errorf("%s: device_app: %w", file, err)
		}
		where := fmt.Sprintf("%s: device %s", fuotaDB, id.String)
		if strings.TrimSpace(id.String) == "" || strings.ContainsAny(id.String, "/?#% \t\r\n") {
			found.Skipped = append(found.Skipped, fmt.Sprintf("%s: %q cannot be a device id in a URL path", where, id.String))
			continue
		}
		bin, err := local(src, path.String)
		if err != nil {
			found.Skipped = append(found.Skipped, fmt.Sprintf("%s: update file %v", where, err))
			continue
		}
		if !files[bin] {
			files[bin] = true
			found.Releases = append(found.Releases, Release{Platform: opts.Platform, File: bin, From: filepath.Join(filepath.Base(src), path.String)})
		}
		found.Devices = append(found.Devices, Device{ID: id.String, File: bin, Running: ver.String, From: where})
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("%s: device_app: %w", file, err)
	}
	found.Notes = append(found.Notes,
		"the FUOTA basic-auth user and password (US_AUTH_USERNAME/US_AUTH_PASSWORD) are not imported: set device authentication on the otagit server for them (README: Device authentication: otagit hash-password, then serve --device-auth FILE), and serve over TLS as the app requires",
		"device ids that are not MACs became device names, with a stand-in MAC (02:...): FUOTA devices never send their MAC; put the real one in its place if the device also uses another client")
	return found, nil
}
