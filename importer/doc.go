// Package importer moves a fleet from the servers otagit replaces (the
// Flask esp-update-server, docker-fuota-server, AutoConnect's
// updateserver.py, a plain folder of binaries) into a config repository
// work tree: it reads each source's own files and writes platforms,
// releases and whitelist entries through package repoedit, adding only
// what is new.
package importer
