// Package rollout holds otagit's fleet model (platforms, releases, devices)
// and the pure decision of which firmware, if any, a device gets.
//
// Nothing here does I/O: a [Fleet] is built once from a config commit by
// package gitstore, and [Decide] answers a device request from it. The same
// function serves GET /update, the operator API and `otagit plan`, so the
// preview of a change is exactly what devices will see.
package rollout
