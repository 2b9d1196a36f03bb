// Package devauth authenticates device requests: HTTP basic auth against
// bcrypt hashes in a server-side credential file, per platform, group or
// device, with verified credentials cached so that a device's later polls
// pay no hash check. Its Authorizer is the device path's
// httpapi.DeviceAuthorizer.
package devauth
