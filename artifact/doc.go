// Package artifact is the content-addressed store of firmware binaries on
// disk, and the inspectors that read binaries named by a config: what
// devices download is served from these files, never from Git objects.
package artifact
