package main

import (
	"os"
	"testing"
)

// TestMain sets up the process as main does.
func TestMain(m *testing.M) {
	installTransports()
	os.Exit(m.Run())
}
