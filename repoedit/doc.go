// Package repoedit edits a config repository work tree the way `otagit
// add` does: it adds a firmware binary as a release of its platform,
// copying the binary to firmware/<platform>/<platform>-<version>.bin and
// appending a [[release]] to platforms/<platform>.toml, checks the result
// with the one loader of package config, undoes both edits when the result
// is not valid, and stages both files with Git.
package repoedit
