package server

import (
	"os"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/transport/client"

	"github.com/otagit/otagit/gitstore"
)

// TestMain installs the local transport as the otagit binary does.
func TestMain(m *testing.M) {
	client.InstallProtocol("file", gitstore.LocalTransport(false))
	os.Exit(m.Run())
}
