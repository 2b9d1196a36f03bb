// Package httpapi serves otagit's HTTP endpoints for devices (GET /update,
// the protocol of the stock ESP8266httpUpdate and ESP32 HTTPUpdate clients)
// and for operators (/api/status, /healthz).
//
// Handlers read the served snapshot once per request through an atomic load
// and never touch Git or wait for a sync; firmware is sent from the files of
// the artifact cache.
package httpapi
