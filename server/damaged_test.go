package server

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otagit/otagit/checkin"
	"github.com/otagit/otagit/rollout"
)

// TestDamagedCheckinsSetAside is fault 10: a damaged checkins.db no
// longer stops the server. The file is set aside, the server starts with a
// fresh store, logs it at ERROR, shows it in /api/status and serves
// devices.
func TestDamagedCheckinsSetAside(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string)
	}{
		{"garbage", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte(strings.Repeat("not a bbolt file ", 1000)), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"page overwritten", func(t *testing.T, path string) {
			// A real file with devices in it, then one of its data pages
			// overwritten, its size unchanged, as a bad sector or a torn
			// write leaves it.
			db, err := checkin.OpenBolt(path, checkin.BoltOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var ds []checkin.Device
			for i := range 2000 {
				mac := rollout.MAC{0x18, 0xFE, 0x34, 0, byte(i >> 8), byte(i)}
				ds = append(ds, checkin.Device{MAC: mac, Platform: "smart-lamp", LastVersion: "1.0.0", FirstSeen: time.Now(), LastSeen: time.Now()})
			}
			if err := db.Save(context.Background(), nil, ds); err != nil {
				t.Fatal(err)
			}
			db.Close()
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			st, _ := f.Stat()
			junk := []byte(strings.Repeat("\xff\x13", 2048))
			for off := int64(4 * 4096); off+4096 <= st.Size(); off += 3 * 4096 {
				if _, err := f.WriteAt(junk, off); err != nil {
					t.Fatal(err)
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo, commit := starter(t, 0)
			data := t.TempDir()
			path := filepath.Join(data, checkinsFile)
			tc.damage(t, path)
			var logs syncBuffer
			srv := start(t, repo.Bare, func(c *Config) {
				c.Store.DataDir = data
				c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			})
			waitServing(t, srv.addrs[0], commit)
			var st struct {
				Recording struct {
					Store checkin.StoreInfo `json:"store"`
				} `json:"recording"`
			}
			res, err := http.Get("http://" + srv.addrs[0] + "/api/status")
			if err != nil {
				t.Fatal(err)
			}
			err = json.NewDecoder(res.Body).Decode(&st)
			res.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			info := st.Recording.Store
			if info.SetAside == "" || info.SetAsideReason == "" || info.SetAsideAt.IsZero() {
				t.Fatalf("/api/status does not say the store was set aside: %+v", info)
			}
			if !strings.HasPrefix(info.SetAside, path+".damaged-") {
				t.Errorf("set aside as %s, want %s.damaged-<time>", info.SetAside, path)
			}
			if _, err := os.Stat(info.SetAside); err != nil {
				t.Errorf("the damaged file is not kept: %v", err)
			}
			if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "check-in store damaged") {
				t.Errorf("no ERROR record of the damage in:\n%s", logs.String())
			}
			// Devices are served.
			conn, err := net.Dial("tcp", srv.addrs[0])
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := conn.Write([]byte(lampRequest("18:FE:34:A1:00:01", "1.1.0"))); err != nil {
				t.Fatal(err)
			}
			dres, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			dres.Body.Close()
			if dres.StatusCode >= 500 {
				t.Fatalf("device got %s", dres.Status)
			}
			if err := srv.stop(); err != nil {
				t.Fatal(err)
			}
			// The fresh store is a good one: it opens without being set
			// aside again, with the device's check-in in it.
			db, err := checkin.OpenBoltChecked(path, checkin.BoltOptions{})
			if err != nil {
				t.Fatalf("fresh store: %v", err)
			}
			defer db.Close()
			devs, err := db.LoadDevices(context.Background())
			if err != nil || len(devs) != 1 {
				t.Fatalf("fresh store holds %d devices (%v), want the one that checked in", len(devs), err)
			}
		})
	}
}
