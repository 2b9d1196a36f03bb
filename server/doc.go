// Package server runs otagit's update server: it opens what lives in the
// data directory (the Git clone, the artifact cache, the check-in
// database), builds the HTTP routes of package httpapi and package
// webhook, runs the background workers (Git sync, pull request reviews,
// check-in recording) and, when its context ends, stops them in order, so
// that every request that was answered has its check-in saved.
//
// It only wires together the packages that do the work, and only the
// otagit command imports it.
package server
