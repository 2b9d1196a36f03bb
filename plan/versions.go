package plan

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/otagit/otagit/checkin"
	"github.com/otagit/otagit/rollout"
)

// Versions maps devices to the version each runs, verbatim as reported. Its
// Reported method is an Input.Reported.
type Versions map[rollout.MAC]string

// Reported returns the version mac runs, if known.
func (v Versions) Reported(mac rollout.MAC) (string, bool) {
	s, ok := v[mac]
	return s, ok
}

// maxVersionErrors bounds the errors ReadVersions reports for one file.
const maxVersionErrors = 20

// ReadVersions reads a versions file: one device a line, its MAC and the
// version it runs, separated by spaces, tabs or one comma:
//
//	# office
//	18:FE:34:A1:00:01  1.1.0
//	18:FE:34:A1:00:02,v1.0.0
//
// Blank lines and lines starting with # are skipped, and so is a first line
// "mac,version" (a CSV header). MACs are written as in whitelists; versions
// as devices report them. Every bad line is an error naming name:line (up to
// 20 of them, joined); a MAC listed twice is one.
func ReadVersions(name string, r io.Reader) (Versions, error) {
	out := Versions{}
	firstLine := map[rollout.MAC]int{}
	var errs []error
	fail := func(line int, format string, args ...any) {
		if len(errs) < maxVersionErrors {
			errs = append(errs, fmt.Errorf("%s:%d: %s", name, line, fmt.Sprintf(format, args...)))
		}
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	n := 0
	for sc.Scan() {
		n++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := splitVersionLine(text)
		if len(fields) != 2 {
			fail(n, "want a MAC and a version, got %q", text)
			continue
		}
		if n == 1 && strings.EqualFold(fields[0], "mac") && strings.EqualFold(fields[1], "version") {
			continue
		}
		mac, err := rollout.ParseMAC(fields[0])
		if err != nil {
			fail(n, "%v", err)
			continue
		}
		if _, err := rollout.ParseDeviceVersion(fields[1]); err != nil {
			fail(n, "device %s: version %v", mac, err)
			continue
		}
		if first, dup := firstLine[mac]; dup {
			fail(n, "device %s listed twice (first on line %d)", mac, first)
			continue
		}
		firstLine[mac] = n
		out[mac] = fields[1]
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("%s:%d: %w", name, n+1, err))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// splitVersionLine splits "MAC version" or "MAC,version".
func splitVersionLine(s string) []string {
	if mac, ver, ok := strings.Cut(s, ","); ok {
		mac, ver = strings.TrimSpace(mac), strings.TrimSpace(ver)
		if mac == "" || ver == "" || strings.ContainsAny(ver, ", \t") {
			return nil
		}
		return []string{mac, ver}
	}
	return strings.Fields(s)
}

// Limits of FetchVersions.
const (
	// fleetPage is how many devices each request asks for (the API's
	// largest page); a larger fleet is read page by page with the after
	// cursor.
	fleetPage = 10000
	// maxFleetDevices and maxFleetBody (per page) bound what a server can
	// make the command read.
	maxFleetDevices = 5_000_000
	maxFleetBody    = 256 << 20
)

// FetchVersions reads the versions devices last reported to a running
// otagit server, from its device API (GET base/api/devices), sending token
// as "Authorization: Bearer <token>" unless it is empty. ctx bounds the
// whole exchange: give it a deadline. client nil means http.DefaultClient.
// Errors name the URL (without credentials); a refusal is a *ServerError.
func FetchVersions(ctx context.Context, client *http.Client, base, token string) (Versions, error) {
	return fetchVersions(ctx, client, base, token, fleetPage)
}

// fetchVersions is FetchVersions with the size of the first request.
func fetchVersions(ctx context.Context, client *http.Client, base, token string, page int) (Versions, error) {
	if client == nil {
		client = http.DefaultClient
	}
	u, err := url.Parse(strings.TrimRight(base, "/") + "/api/devices")
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("server URL %q: want http://host[:port] or https://...", base)
	}
	out := make(Versions)
	after, read := "", 0
	for {
		doc, err := fetchDevices(ctx, client, u, token, page, after)
		if err != nil {
			return nil, err
		}
		read += len(doc.Devices)
		if doc.Total > maxFleetDevices || read > maxFleetDevices {
			return nil, fmt.Errorf("GET %s: %d devices, more than the %d a plan reads", u.Redacted(), doc.Total, maxFleetDevices)
		}
		for _, d := range doc.Devices {
			if d.LastVersion != "" {
				out[d.MAC] = d.LastVersion
			}
		}
		// A cursor that does not move on would loop forever.
		if doc.Next == "" || doc.Next <= after || len(doc.Devices) == 0 {
			return out, nil
		}
		after = doc.Next
	}
}

// devicePage is one page of GET /api/devices.
type devicePage struct {
	Total   int              `json:"total"`
	Devices []checkin.Device `json:"devices"`
	Next    string           `json:"next"`
}

// fetchDevices asks for up to limit devices after the cursor after ("" for
// the first page).
func fetchDevices(ctx context.Context, client *http.Client, u *url.URL, token string, limit int, after string) (devicePage, error) {
	q := *u
	v := url.Values{"limit": {strconv.Itoa(limit)}}
	if after != "" {
		v.Set("after", after)
	}
	q.RawQuery = v.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, q.String(), nil)
	if err != nil {
		return devicePage{}, err
	}
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	where := "GET " + q.Redacted()
	res, err := client.Do(req)
	if err != nil {
		// The client's error repeats the URL: keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return devicePage{}, fmt.Errorf("%s: %w", where, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return devicePage{}, &ServerError{Request: where, Status: res.Status, Code: res.StatusCode, Message: serverMessage(res.Body)}
	}
	var doc devicePage
	if err := json.NewDecoder(io.LimitReader(res.Body, maxFleetBody)).Decode(&doc); err != nil {
		return devicePage{}, fmt.Errorf("%s: reading the device list: %w", where, err)
	}
	return doc, nil
}

// ServerError is a device API's refusal, such as 401 Unauthorized for a
// missing or wrong read token.
type ServerError struct {
	// Request is the request refused, "GET <url>" (without credentials).
	Request string
	// Status is the HTTP status line, e.g. "401 Unauthorized", and Code
	// its number.
	Status string
	Code   int
	// Message is the server's explanation, "" if it gave none.
	Message string
}

func (e *ServerError) Error() string {
	if e.Message == "" {
		return e.Request + ": " + e.Status
	}
	return e.Request + ": " + e.Status + ": " + e.Message
}

// serverMessage returns the message of an API error body ({"error":
// "..."}), "" when there is none.
func serverMessage(body io.Reader) string {
	var doc struct {
		Error string `json:"error"`
	}
	if json.NewDecoder(io.LimitReader(body, 4096)).Decode(&doc) != nil {
		return ""
	}
	return doc.Error
}
