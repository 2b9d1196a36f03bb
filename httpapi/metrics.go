package httpapi

import "github.com/otagit/otagit/rollout"

// DeviceMetrics counts device requests for /metrics (package metrics
// implements it). Its methods run on the request path of every device
// request: they must be cheap, never block and not allocate.
type DeviceMetrics interface {
	// DeviceRequest counts one answered device request of client (one
	// of the client* constants) with the status sent and the decision
	// made, nil when none was (a malformed request, a catalog, a
	// refused credential).
	DeviceRequest(client string, status int, dec *rollout.Decision)
	// DownloadStarted and DownloadEnded bracket sending a firmware or
	// filesystem image; DownloadEnded is told the body bytes sent.
	DownloadStarted()
	DownloadEnded(bytes int64)
}

// finishDevice counts and logs a device request once it is answered: the
// one place both happen, for every client and every answer. The log
// lines of refused credentials (authRefused) are rate-limited (authLog):
// anyone can send those, as fast as they like.
func (a *API) finishDevice(c *deviceCall, e endpoint, dec *rollout.Decision, status int, reason string, authRefused bool) {
	if a.metrics != nil {
		a.metrics.DeviceRequest(e.client(), status, dec)
	}
	if authRefused {
		a.authLog.refused(a.log, c.start, c.dr.mac, c.r.RemoteAddr, e.client(), reason)
		return
	}
	a.logDevice(c, e, dec, status, reason)
}
