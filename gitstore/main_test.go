package gitstore

import (
	"os"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/transport/client"
)

// inProcessEnv makes the tests serve local remotes with go-git's
// in-process server even where Git is installed (see
// TestInProcessFileTransport).
const inProcessEnv = "OTAGIT_INPROCESS_FILE_TRANSPORT"

// TestMain installs the local transport as the otagit binary does.
func TestMain(m *testing.M) {
	client.InstallProtocol("file", LocalTransport(os.Getenv(inProcessEnv) == "1"))
	os.Exit(m.Run())
}
