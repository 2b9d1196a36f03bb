package main

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/otagit/otagit/espimage"
	"github.com/otagit/otagit/internal/testrepo"
)

// BenchmarkWebhookToServed measures, on a config repository of 20
// platforms x 10 releases of 1 MB binaries, the time from a signed push
// webhook to the new release being served to a device. Each iteration
// pushes one more 1 MB release (not timed), sends the webhook and polls
// /update until the new image comes back (timed).
//
//	go test ./cmd/otagit -run '^$' -bench WebhookToServed -benchtime 20x
func BenchmarkWebhookToServed(b *testing.B) {
	const platforms, releases, size = 20, 10, 1 << 20
	repo := testrepo.New(b)
	image := func(p, v int) []byte {
		img, err := espimage.Build(espimage.BuildOptions{Chip: espimage.ESP32, ProjectName: fmt.Sprintf("p%02d", p),
			Version: fmt.Sprintf("1.%d.0", v), Size: size})
		if err != nil {
			b.Fatal(err)
		}
		return img
	}
	toml := make([]strings.Builder, platforms)
	for p := range platforms {
		fmt.Fprintf(&toml[p], "chip = \"esp32\"\n")
		for v := range releases {
			file := fmt.Sprintf("firmware/p%02d/%d.bin", p, v)
			repo.Write(file, image(p, v))
			fmt.Fprintf(&toml[p], "[[release]]\nversion = \"1.%d.0\"\nfile = %q\n", v, file)
		}
		repo.WriteString(fmt.Sprintf("platforms/p%02d.toml", p), toml[p].String())
	}
	var devices strings.Builder
	for p := range platforms {
		fmt.Fprintf(&devices, "[[device]]\nmac = \"24:0A:C4:00:00:%02X\"\nplatform = \"p%02d\"\n", p, p)
	}
	repo.WriteString("devices/all.toml", devices.String())
	first := repo.CommitPush("20 platforms x 10 releases x 1 MB")

	ts := startServer(b, repo.Bare, slog.New(slog.NewTextHandler(io.Discard, nil)))
	initial := waitUntil(b, "initial sync", func() bool { return ts.status(b).Commit == first })
	b.Logf("initial clone and load of %d MB: %v", platforms*releases*size>>20, initial)

	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		p, v := i%platforms, releases+i/platforms
		img := image(p, v)
		file := fmt.Sprintf("firmware/p%02d/%d.bin", p, v)
		repo.Write(file, img)
		fmt.Fprintf(&toml[p], "[[release]]\nversion = \"1.%d.0\"\nfile = %q\n", v, file)
		repo.WriteString(fmt.Sprintf("platforms/p%02d.toml", p), toml[p].String())
		commit := repo.CommitPush(fmt.Sprintf("p%02d 1.%d.0", p, v))
		mac := fmt.Sprintf("24:0A:C4:00:00:%02X", p)
		b.StartTimer()

		if code := ts.push(b, commit); code != http.StatusAccepted {
			b.Fatalf("webhook: %d", code)
		}
		waitUntil(b, "new release served", func() bool {
			res, body := ts.deviceGet(b, "/update", esp32(mac, "1.0.0"))
			return res.StatusCode == 200 && bytes.Equal(body, img)
		})
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/served")
}
