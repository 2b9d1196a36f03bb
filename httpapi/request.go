package httpapi

import (
	"net/http"
	"net/url"
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
)

// deviceRequest is what a device's GET /update says about it.
type deviceRequest struct {
	family  string // "esp8266" or "esp32" from the header names, "" if neither
	mac     string // raw station MAC header
	dev     string // dev= query parameter: the platform
	version string // ver= query parameter, else the version header
	mode    string // "sketch", "spiffs" or "version"; "" when not sent
}

// readDeviceRequest extracts the device facts from r. It allocates only
// when the query string is percent-encoded.
func readDeviceRequest(r *http.Request) deviceRequest {
	var d deviceRequest
	h := r.Header
	switch {
	case first(h, hESP8266MAC) != "":
		d.family, d.mac = "esp8266", first(h, hESP8266MAC)
		d.version, d.mode = first(h, hESP8266Version), first(h, hESP8266Mode)
	case first(h, hESP32MAC) != "":
		d.family, d.mac = "esp32", first(h, hESP32MAC)
		d.version, d.mode = first(h, hESP32Version), first(h, hESP32Mode)
	}
	q := r.URL.RawQuery
	d.dev = queryValue(q, "dev")
	if v := queryValue(q, "ver"); v != "" {
		d.version = v
	}
	return d
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
