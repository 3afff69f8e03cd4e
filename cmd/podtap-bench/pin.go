package main

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// cpuSplit is how the overhead scenario shares the machine's CPUs: app for
// the server alone, rest for the load generator and the sidecar.
type cpuSplit struct {
	app, rest []int
}

// splitCPUs gives the last CPU to the server. A one-CPU machine cannot
// keep them apart, and everything shares CPU 0.
func splitCPUs(n int) cpuSplit {
	if n < 2 {
		return cpuSplit{app: []int{0}, rest: []int{0}}
	}
	s := cpuSplit{app: []int{n - 1}}
	for c := range n - 1 {
		s.rest = append(s.rest, c)
	}
	return s
}

func (s cpuSplit) String() string {
	if len(s.rest) == 1 && s.rest[0] == s.app[0] {
		return "one CPU: server, load generator and sidecar share it"
	}
	return fmt.Sprintf("server pinned to CPU %s, load generator and sidecar to CPU %s", cpuList(s.app), cpuList(s.rest))
}

// cpuList writes CPUs as taskset takes them: 0,1,2.
func cpuList(cpus []int) string {
	s := ""
	for i, c := range cpus {
		if i > 0 {
			s += ","
		}
		s += strconv.Itoa(c)
	}
	return s
}

// pinProcess sets the CPU affinity of every thread of process pid. Threads
// a pinned thread makes later inherit its affinity; the threads are listed
// twice, so that one made by a thread not yet pinned is caught too.
func pinProcess(pid int, cpus []int) error {
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
				return fmt.Errorf("pinning thread %d of process %d to CPU %s: %w", tid, pid, cpuList(cpus), err)
			}
		}
	}
	return nil
}
