package main

import (
	"os"
	"testing"
)

// TestMain sets up the process as main does. With $OTAGIT_TEST_MAIN set
// the test binary is otagit itself, for tests that signal a real process.
func TestMain(m *testing.M) {
	if os.Getenv("OTAGIT_TEST_MAIN") == "1" {
		main()
		return
	}
	installTransports()
	os.Exit(m.Run())
}
