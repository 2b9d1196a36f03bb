// Package buildinfo says which otagit this is: the module version and the
// VCS revision the binary was built from, as `otagit version`, /api/status
// and the dashboard show it.
package buildinfo
