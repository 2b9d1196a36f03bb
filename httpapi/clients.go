package httpapi

import (
	"net"
	"net/http"
	"strings"

	"github.com/otagit/otagit/rollout"
)

// What the endpoints of the clients other than /update share: the version
// a request that reports none is decided from, and the per-device download
// URLs the manifests point at.

// assumedVersion returns the version to decide a request of the device
// with MAC mac on platform p from when the request reports none: the
// version of the release whose image the device's sketch MD5 says it runs
// (AutoConnect's download sends that MD5 but no version), else the version
// it last reported in a check-in, else rollout.NoRelease. An anonymous
// request (mac nil) is decided from rollout.NoRelease unless its MD5
// tells.
func (a *API) assumedVersion(p *rollout.Platform, mac *rollout.MAC, sketchMD5 string) string {
	if r := p.RunningRelease(sketchMD5); r != nil {
		return r.Version.Original()
	}
	if mac != nil && a.devices != nil {
		if d, ok := a.devices.Device(*mac); ok && d.LastVersion != "" {
			return d.LastVersion
		}
	}
	return rollout.NoRelease
}

// macPath writes a MAC as the download URLs carry it: 12 upper-case hex
// digits, which ParseMAC reads back.
func macPath(m rollout.MAC) string { return strings.ReplaceAll(m.String(), ":", "") }

// anyDevice stands for the device in the download URL of an anonymous
// request.
const anyDevice = "any"

// downloadPath is the path of a binary of release rel for the device a
// manifest was made for: /PREFIX/PLATFORM/DEVICE/FROM/FILE, where DEVICE
// is its MAC (macPath) or anyDevice, FROM the version the manifest's
// decision was made from, and FILE downloadFile's name of the app image
// (fs false) or the filesystem image. The download decides again from
// exactly these, so it serves the binary only when that decision still
// offers it, and no URL gets another device's or another release's.
func downloadPath(prefix string, rel *rollout.Release, fs bool, device string, from string) string {
	return "/" + prefix + "/" + rel.Platform + "/" + device + "/" + from + "/" + downloadFile(rel, fs)
}

// downloadFile names a release's binary in download URLs: VERSION.bin for
// the app image, VERSION.fs.bin for the filesystem image, with .gz (.zz)
// for a gzip (zlib) binary: esp32FOTA inflates a download only when its
// URL holds "gz" (with ESP32-targz) or "zz" (with flashz).
func downloadFile(rel *rollout.Release, fs bool) string {
	name, art := rollout.VersionKey(rel.Version), &rel.Artifact
	if fs {
		name, art = name+".fs", rel.Filesystem
	}
	name += ".bin"
	switch art.Encoding {
	case rollout.Gzip:
		name += ".gz"
	case rollout.Zlib:
		name += ".zz"
	}
	return name
}

// origin returns the scheme and host the request came to, as the device
// wrote them ("http://ota.example:8080"): manifests that need a full URL
// point back at the server the device reached.
func origin(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + requestHost(r)
}

// requestHost is the Host the request names, or the address it was
// received on when it names none (HTTP/1.0 without Host).
func requestHost(r *http.Request) string {
	if r.Host != "" {
		return r.Host
	}
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		return a.String()
	}
	return "localhost"
}

// downloadRequest is what a per-device download URL (downloadPath) names.
type downloadRequest struct {
	platform *rollout.Platform
	mac      rollout.MAC
	anyone   bool // the URL of an anonymous manifest
	from     string
	want     *rollout.Release
	fs       bool // the filesystem image, not the app's
}

// readDownload reads a per-device download URL's parts: the platform, the
// device, the version decided from and the file, which must be exactly
// downloadFile's name of a binary of a release of the platform. Any part
// that names nothing gives a 404: the URL is the server's own, so one
// that does not read is no file of it.
func readDownload(f *rollout.Fleet, platform, device, from, file string) (downloadRequest, *refusal) {
	notFound := func(what string) (downloadRequest, *refusal) {
		return downloadRequest{}, &refusal{status: http.StatusNotFound, reason: "no such file: " + what}
	}
	var d downloadRequest
	if d.platform = f.Platform(platform); d.platform == nil {
		return notFound("unknown platform " + quoteShort(platform))
	}
	if device == anyDevice {
		d.anyone = true
	} else {
		m, err := rollout.ParseMAC(device)
		if err != nil {
			return notFound("bad device " + quoteShort(device))
		}
		d.mac = m
	}
	if _, err := rollout.ParseDeviceVersion(from); err != nil {
		return notFound("bad version " + quoteShort(from))
	}
	d.from = from
	v, _, _ := strings.Cut(file, ".bin")
	v, d.fs = strings.CutSuffix(v, ".fs")
	ver, err := rollout.ParseReleaseVersion(v)
	if err != nil {
		return notFound(quoteShort(file))
	}
	d.want = d.platform.Release(ver)
	switch {
	case d.want == nil:
		return notFound(d.platform.Name + " has no release " + v)
	case d.fs && d.want.Filesystem == nil:
		return notFound(d.platform.Name + " " + v + " has no filesystem image")
	case downloadFile(d.want, d.fs) != file:
		return notFound(quoteShort(file))
	}
	return d, nil
}

// request is the decision's request for d: the download is decided as the
// manifest was, and must be the release the decision offers. A filesystem
// image is sent whenever its release is offered, also to a device that
// took it before: esp32FOTA flashes it just before the app, and gives up
// the app when it cannot have it.
func (d downloadRequest) request() rollout.Request {
	req := rollout.Request{MAC: d.mac, Platform: d.platform.Name, Version: d.from, Anonymous: d.anyone, Want: d.want.Version}
	if d.fs {
		req.Mode = rollout.ModeFilesystem
	}
	return req
}

// deviceOf returns the device text of download URLs for a manifest's
// request: its MAC, or anyDevice.
func deviceOf(req rollout.Request) string {
	if req.Anonymous {
		return anyDevice
	}
	return macPath(req.MAC)
}

// fromOf returns the version a decision was made from in the form the
// download URLs carry it.
func fromOf(dec *rollout.Decision) string { return rollout.VersionKey(dec.Current) }
