// Package repoedit edits a config repository work tree, and is where the
// text of the files it writes is made: AddRelease adds a firmware binary
// as a release of its platform the way `otagit add` does, copying the
// binary to firmware/<platform>/<platform>-<version>.bin and appending a
// [[release]] to platforms/<platform>.toml; Edit adds platforms, releases
// and whitelist entries as one change (`otagit import`). Both check the
// result with the one loader of package config, undo their edits when it
// is not valid, and stage what they wrote with Git.
package repoedit
