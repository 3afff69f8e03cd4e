package host

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// CPUSplit is how the overhead scenario shares the machine's CPUs: app for
// the server alone, rest for the load generator and the sidecar.
type CPUSplit struct {
	App, Rest []int
}

// SplitCPUs gives the last of the CPUs the bench may use to the server.
// With only one, nothing can be kept apart, and everything shares it.
func SplitCPUs(allowed []int) CPUSplit {
	n := len(allowed)
	if n < 2 {
		return CPUSplit{App: allowed, Rest: allowed}
	}
	return CPUSplit{App: allowed[n-1:], Rest: allowed[:n-1]}
}

// AllowedCPUs lists the CPUs this process may run on: under taskset or a
// cpuset they are not 0..NumCPU-1.
func AllowedCPUs() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("reading the bench's CPU affinity: %w", err)
	}
	var cpus []int
	for c := range len(set) * 64 {
		if set.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	if len(cpus) == 0 {
		return nil, fmt.Errorf("the bench's CPU affinity lists no CPU")
	}
	return cpus, nil
}

func (s CPUSplit) String() string {
	if len(s.Rest) == 1 && s.Rest[0] == s.App[0] {
		return "one CPU: server, load generator, sidecar and bench share it"
	}
	return fmt.Sprintf("server pinned to CPU %s, load generator, sidecar and bench to CPU %s", CPUList(s.App), CPUList(s.Rest))
}

// CPUList writes CPUs as taskset takes them: 0,1,2.
func CPUList(cpus []int) string {
	s := ""
	for i, c := range cpus {
		if i > 0 {
			s += ","
		}
		s += strconv.Itoa(c)
	}
	return s
}

// Pin sets the CPU affinity of every thread of process pid. Threads
// a pinned thread makes later inherit its affinity; the threads are listed
// twice, so that one made by a thread not yet pinned is caught too.
func Pin(pid int, cpus []int) error {
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	dir := fmt.Sprintf("/proc/%d/task", pid)
	for range 2 {
		tasks, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("pinning process %d: %w", pid, err)
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			// A thread that exited since the listing is no error.
			if err := unix.SchedSetaffinity(tid, &set); err != nil && err != unix.ESRCH {
				return fmt.Errorf("pinning thread %d of process %d to CPU %s: %w", tid, pid, CPUList(cpus), err)
			}
		}
	}
	return nil
}
