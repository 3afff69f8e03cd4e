package host

import (
	"errors"
	"fmt"
	"os/exec"
	"syscall"
	"time"
)

// Stop ends a child the way its owner asks it to (sig: SIGTERM as
// Kubernetes sends, SIGQUIT for nginx's graceful stop) and waits for it;
// after grace it kills the child and says it ignored sig. An exit status
// is not an error: a signalled child rarely exits 0.
func Stop(cmd *exec.Cmd, sig syscall.Signal, grace time.Duration) error {
	return StopPID(cmd, cmd.Process.Pid, sig, grace)
}

// StopPID is Stop for a child that runs the process to stop as its own
// child and exits with it, as nsenter does when it enters a PID
// namespace: sig goes to pid, and cmd is waited for.
func StopPID(cmd *exec.Cmd, pid int, sig syscall.Signal, grace time.Duration) error {
	_ = syscall.Kill(pid, sig)
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
		_ = syscall.Kill(pid, syscall.SIGKILL)
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("%s ignored %v for %v", cmd.Path, sig, grace)
	}
}
