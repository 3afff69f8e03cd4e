package host

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"
)

// Stop ends a child the way its owner asks it to (sig: SIGTERM as
// Kubernetes sends, SIGQUIT for nginx's graceful stop) and waits for it;
// after grace it kills the child and says it ignored sig. An exit status
// is not an error: a signalled child rarely exits 0.
func Stop(cmd *exec.Cmd, sig os.Signal, grace time.Duration) error {
	_ = cmd.Process.Signal(sig)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			return err
		}
		return nil
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("%s ignored %v for %v", cmd.Path, sig, grace)
	}
}
