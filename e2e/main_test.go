package e2e

import (
	"fmt"
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	// The test binary is also the container runtime: see runContainer.
	if os.Getenv(roleEnv) == roleContainer {
		err := runContainer()
		fmt.Fprintln(os.Stderr, "e2e container runtime:", err)
		os.Exit(127)
	}
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}
