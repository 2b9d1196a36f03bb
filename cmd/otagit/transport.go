package main

import (
	"github.com/go-git/go-git/v5/plumbing/transport/client"

	"github.com/otagit/otagit/gitstore"
)

// installTransports sets up go-git's process-wide transport registry for
// this program: local-path and file:// remotes work with or without Git
// installed (see gitstore.LocalTransport).
func installTransports() {
	client.InstallProtocol("file", gitstore.LocalTransport(false))
}
