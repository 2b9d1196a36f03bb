package httpapi

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Device request headers, in Go's canonical form so that lookups are plain
// map reads with no allocation. Clients send them as "x-ESP8266-STA-MAC"
// and so on; net/http canonicalizes incoming names.
var (
	hESP8266MAC       = http.CanonicalHeaderKey("x-ESP8266-STA-MAC")
	hESP32MAC         = http.CanonicalHeaderKey("x-ESP32-STA-MAC")
	hESP8266Version   = http.CanonicalHeaderKey("x-ESP8266-version")
	hESP32Version     = http.CanonicalHeaderKey("x-ESP32-version")
	hESP8266Mode      = http.CanonicalHeaderKey("x-ESP8266-mode")
	hESP32Mode        = http.CanonicalHeaderKey("x-ESP32-mode")
	hESP8266FreeSpace = http.CanonicalHeaderKey("x-ESP8266-free-space")
	hESP32FreeSpace   = http.CanonicalHeaderKey("x-ESP32-free-space")
	hESP8266SDK       = http.CanonicalHeaderKey("x-ESP8266-sdk-version")
	hESP32SDK         = http.CanonicalHeaderKey("x-ESP32-sdk-version")
	hESP8266ChipSize  = http.CanonicalHeaderKey("x-ESP8266-chip-size")
	hESP32ChipSize    = http.CanonicalHeaderKey("x-ESP32-chip-size")
	hESP8266SketchMD5 = http.CanonicalHeaderKey("x-ESP8266-sketch-md5")
	hESP32SketchMD5   = http.CanonicalHeaderKey("x-ESP32-sketch-md5")
)

// deviceRequest is what a device's GET /update says about it.
type deviceRequest struct {
	family  string // "esp8266" or "esp32" from the header names, "" if neither
	mac     string // raw station MAC header
	dev     string // dev= query parameter: the platform
	version string // ver= query parameter, else the version header
	mode    string // raw x-*-mode header; "" when not sent
	md5     string // MD5 of the running sketch, "" when not sent
	sdk     string // SDK version
	free    int64  // free space for a new sketch, -1 when not sent or unreadable
	chip    int64  // flash chip size, -1 when not sent or unreadable
}

// readDeviceRequest extracts the device facts from r. It allocates only
// when the query string is percent-encoded.
func readDeviceRequest(r *http.Request) deviceRequest {
	var d deviceRequest
	h := r.Header
	d.free, d.chip = -1, -1
	switch {
	case first(h, hESP8266MAC) != "":
		d.family, d.mac = "esp8266", first(h, hESP8266MAC)
		d.version, d.mode = first(h, hESP8266Version), first(h, hESP8266Mode)
		d.md5, d.sdk = first(h, hESP8266SketchMD5), first(h, hESP8266SDK)
		d.free, d.chip = size(first(h, hESP8266FreeSpace)), size(first(h, hESP8266ChipSize))
	case first(h, hESP32MAC) != "":
		d.family, d.mac = "esp32", first(h, hESP32MAC)
		d.version, d.mode = first(h, hESP32Version), first(h, hESP32Mode)
		d.md5, d.sdk = first(h, hESP32SketchMD5), first(h, hESP32SDK)
		d.free, d.chip = size(first(h, hESP32FreeSpace)), size(first(h, hESP32ChipSize))
	}
	q := r.URL.RawQuery
	d.dev = queryValue(q, "dev")
	if v := queryValue(q, "ver"); v != "" {
		d.version = v
	}
	return d
}

// size reads a byte count header; -1 when absent or not a number.
func size(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return -1
	}
	return n
}

func first(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// queryValue returns the first value of key in the raw query string, or "".
// Unlike url.ParseQuery it builds no map.
func queryValue(raw, key string) string {
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(kv, "=")
		if k != key {
			continue
		}
		if strings.ContainsAny(v, "%+") {
			if u, err := url.QueryUnescape(v); err == nil {
				return u
			}
		}
		return v
	}
	return ""
}
