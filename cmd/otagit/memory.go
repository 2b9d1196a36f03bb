package main

import (
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"

	"github.com/otagit/otagit/gitstore"
)

// memoryFloor is the least soft memory limit "auto" sets.
const memoryFloor = 128 << 20

// memoryPolicy applies --memory-limit: "auto" (the default) keeps Go's
// soft memory limit at twice the heap a published config leaves live, and
// at least 128 MiB, so that parsing the next config (a whitelist of
// 100,000 devices allocates ~250 MB of parse trees) is collected as it
// goes instead of doubling the process's size; "off" leaves Go's default;
// a size such as "512MiB" fixes the limit. GOMEMLIMIT, when set, wins. It
// returns the hook for gitstore.Options.OnPublish (nil when not adaptive).
func memoryPolicy(spec string, log *slog.Logger) (func(*gitstore.Snapshot), error) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return nil, nil
	}
	switch spec {
	case "off":
		return nil, nil
	case "auto", "":
		debug.SetMemoryLimit(memoryFloor)
		return func(*gitstore.Snapshot) {
			live := liveHeap()
			limit := max(int64(memoryFloor), 2*live)
			debug.SetMemoryLimit(limit)
			log.Debug("memory limit", "live_heap", live, "limit", limit)
		}, nil
	}
	n, err := parseSize(spec)
	if err != nil {
		return nil, fmt.Errorf("--memory-limit %q: %w", spec, err)
	}
	debug.SetMemoryLimit(n)
	return nil, nil
}

// liveHeap is the heap marked live by the last GC.
func liveHeap() int64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(s[0].Value.Uint64())
}

// parseSize reads sizes as GOMEMLIMIT writes them: 512MiB, 2GiB, 1000000.
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = n, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("not a size (e.g. 512MiB, 2GiB)")
	}
	return n * mult, nil
}
