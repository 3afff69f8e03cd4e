package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The container runtime: what runc does for a kubelet, reduced to what a
// podtap pod uses. The test binary re-executes itself in the pod's network
// namespace (ip netns exec) with roleEnv=roleContainer; runContainer then
// builds the container from a containerSpec on one OS thread and execs the
// image's binary from that thread, which the new program inherits with its
// mount namespace, root, credentials and capabilities.

const (
	roleEnv       = "PODTAP_E2E_ROLE"
	roleContainer = "container"
	specEnv       = "PODTAP_E2E_CONTAINER_SPEC"
)

// containerSpec is one container, resolved from the pod spec.
type containerSpec struct {
	// Root is the image's root filesystem, a directory on the host.
	Root   string      `json:"root"`
	Mounts []mountSpec `json:"mounts"`
	// Argv is the command and args, Env the environment, both resolved.
	Argv []string `json:"argv"`
	Env  []string `json:"env"`
	UID  int      `json:"uid"`
	GID  int      `json:"gid"`
	// Caps are the capabilities the container keeps (numbers).
	Caps         []int `json:"caps"`
	NoNewPrivs   bool  `json:"noNewPrivs"`
	ReadOnlyRoot bool  `json:"readOnlyRoot"`
}

// mountSpec binds a host directory (a volume) into the container.
type mountSpec struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"readOnly"`
}

// runContainer is the re-executed test binary's whole job; it returns only
// on error.
func runContainer() error {
	// Mount namespace, root and credentials are per thread until exec.
	runtime.LockOSThread()
	raw, err := os.ReadFile(os.Getenv(specEnv))
	if err != nil {
		return fmt.Errorf("reading the container spec: %w", err)
	}
	var spec containerSpec
	if err := json.Unmarshal(raw, &spec); err != nil {
		return fmt.Errorf("decoding the container spec: %w", err)
	}
	lastCap, err := capLast()
	if err != nil {
		return err
	}
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("unshare(CLONE_NEWNS): %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making / private: %w", err)
	}
	if err := mountRoot(spec); err != nil {
		return err
	}
	if err := unix.Chroot(spec.Root); err != nil {
		return fmt.Errorf("chroot %s: %w", spec.Root, err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chdir /: %w", err)
	}
	if err := dropPrivileges(spec, lastCap); err != nil {
		return err
	}
	if len(spec.Argv) == 0 {
		return errors.New("the container has no command")
	}
	err = syscall.Exec(spec.Argv[0], spec.Argv, spec.Env)
	return fmt.Errorf("exec %s: %w", spec.Argv[0], err)
}

// mountRoot binds the root filesystem onto itself, the volumes into it,
// /proc and the network namespace's /sys, then makes the root read-only
// if asked: a bind mount's flags are its own, so the volumes stay
// writable.
func mountRoot(spec containerSpec) error {
	root := spec.Root
	bind := func(src, dst string, ro bool) error {
		if err := unix.Mount(src, dst, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("binding %s on %s: %w", src, dst, err)
		}
		if !ro {
			return nil
		}
		if err := unix.Mount("", dst, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("making %s read-only: %w", dst, err)
		}
		return nil
	}
	if err := bind(root, root, false); err != nil {
		return err
	}
	for _, m := range spec.Mounts {
		if err := bind(m.Source, filepath.Join(root, m.Target), m.ReadOnly); err != nil {
			return err
		}
	}
	if err := unix.Mount("proc", filepath.Join(root, "proc"), "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mounting /proc: %w", err)
	}
	if err := bind("/sys", filepath.Join(root, "sys"), true); err != nil {
		return err
	}
	if spec.ReadOnlyRoot {
		if err := unix.Mount("", root, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("making the root read-only: %w", err)
		}
	}
	return nil
}

// dropPrivileges applies the security context: no_new_privs, the bounding
// set and the capability sets reduced to the kept ones, then the user.
// All of it acts on this thread, which execs next.
func dropPrivileges(spec containerSpec, lastCap int) error {
	keep := map[int]bool{}
	for _, c := range spec.Caps {
		keep[c] = true
	}
	if spec.UID != 0 && len(keep) > 0 {
		return errors.New("capabilities for a non-root user need ambient capabilities, which this runtime does not set")
	}
	if spec.NoNewPrivs {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("no_new_privs: %w", err)
		}
	}
	for c := 0; c <= lastCap; c++ {
		if keep[c] {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
			return fmt.Errorf("dropping capability %d from the bounding set: %w", c, err)
		}
	}
	if spec.UID != 0 || spec.GID != 0 {
		// Raw syscalls: Go's wrappers change every thread, and only this
		// one execs.
		gid := uintptr(spec.GID)
		groups := []uint32{uint32(spec.GID)}
		if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, 1, uintptr(unsafe.Pointer(&groups[0])), 0); e != 0 {
			return fmt.Errorf("setgroups: %w", e)
		}
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, gid, gid, gid); e != 0 {
			return fmt.Errorf("setresgid %d: %w", spec.GID, e)
		}
		uid := uintptr(spec.UID)
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uid, uid, uid); e != 0 {
			return fmt.Errorf("setresuid %d: %w", spec.UID, e)
		}
	}
	var data [2]unix.CapUserData
	for c := range keep {
		data[c/32].Effective |= 1 << (c % 32)
		data[c/32].Permitted |= 1 << (c % 32)
		data[c/32].Inheritable |= 1 << (c % 32)
	}
	if err := unix.Capset(&unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	return nil
}

func capLast() (int, error) {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return 0, fmt.Errorf("reading the last capability: %w", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("reading the last capability: %w", err)
	}
	return n, nil
}
