package scenario

import (
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/podtap/podtap/internal/bench/host"
	"github.com/podtap/podtap/internal/netns"
)

// podPIDs is the pod's shared PID namespace, as shareProcessNamespace
// makes it: a pause process is its PID 1, with /proc of its own, and the
// server and the sidecar enter it (and the pod's network namespace), so
// that TLS capture sees the server's processes and no others of the
// machine.
type podPIDs struct {
	pause *exec.Cmd
	// pid is the pause's PID on the host, PID 1 inside.
	pid int
}

func newPodPIDs(pod *netns.Pod) (*podPIDs, error) {
	if _, err := exec.LookPath("nsenter"); err != nil {
		return nil, errors.New("the tls scenario needs nsenter and unshare (Debian: util-linux)")
	}
	// ip netns exec execs unshare, which forks the pause: its child.
	cmd := pod.Command("unshare", "--pid", "--fork", "--kill-child", "--mount-proc", "sleep", "infinity")
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("the pod's PID namespace: %w", err)
	}
	pid, err := host.WaitChild(cmd.Process.Pid, 5*time.Second)
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("the pod's PID namespace: %w", err)
	}
	return &podPIDs{pause: cmd, pid: pid}, nil
}

// command runs name inside the pod's PID, mount and network namespaces.
func (p *podPIDs) command(name string, args ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{"--target", strconv.Itoa(p.pid), "--pid", "--mount", "--net", "--", name}, args...)...)
}

// start starts cmd (from command) and returns the host PID of the process
// it runs: nsenter's child, since entering a PID namespace takes a fork.
func (p *podPIDs) start(cmd *exec.Cmd) (int, error) {
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	pid, err := host.WaitChild(cmd.Process.Pid, 5*time.Second)
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	return pid, err
}

// close ends the namespace: the kernel kills what is left in it when its
// PID 1 goes.
func (p *podPIDs) close() error {
	_ = syscall.Kill(p.pid, syscall.SIGKILL)
	err := p.pause.Wait()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return nil
	}
	return err
}
