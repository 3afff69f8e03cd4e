package config

import (
	"fmt"
	"strings"
)

// TLS libraries capture.tls may name; "on" means all of them. "go" is Go's
// crypto/tls, found in Go programs (stripped ones too) and probed on its
// functions' RET instructions, as Go's moving stacks break uretprobes.
const (
	TLSLibraryOpenSSL   = "openssl"
	TLSLibraryBoringSSL = "boringssl"
	TLSLibraryGo        = "go"
)

// TLSLibraries lists every library TLS capture supports, in the order
// "on" expands to.
var TLSLibraries = []string{TLSLibraryOpenSSL, TLSLibraryBoringSSL, TLSLibraryGo}

// TLSCaptureCapabilities are the Linux capabilities the sidecar needs, on
// top of NET_RAW, when capture.tls is not "off". The webhook adds exactly
// these. Measured by TestTLSSidecarCapabilities (the sidecar as uid 12345
// with only these and NET_RAW, nginx's workers as nobody, kernel 6.18):
// with all of them the TLS pairs equal the plaintext run's; without any one
// TLS capture is off and says why, and packet capture goes on.
//   - BPF: create the maps and the ring buffer, load the programs.
//   - PERFMON: load programs that read kernel memory (the socket's 4-tuple
//     behind an fd) and attach the uprobes and the sys_enter tracepoint.
//   - SYS_PTRACE: read /proc/PID/maps and open /proc/PID/root and
//     /proc/PID/exe of processes of another user; the kernel guards them by
//     ptrace access checks, which DAC_READ_SEARCH does not pass (measured).
//
// Not needed there: SYS_ADMIN, because probes attach as uprobe_multi links
// (kernel 6.6 on; the perf uprobe events the sidecar falls back to on older
// kernels were refused without SYS_ADMIN on the kernel measured), and
// SYS_RESOURCE, because BPF memory is
// charged to the memory cgroup from kernel 5.11 on, not to RLIMIT_MEMLOCK.
var TLSCaptureCapabilities = []string{"BPF", "PERFMON", "SYS_PTRACE"}

// ParseTLS reads a capture.tls value: "off" (nil), "on" (every library) or
// a comma list of libraries. The result is in TLSLibraries order, without
// repeats.
func ParseTLS(s string) ([]string, error) {
	switch v := strings.TrimSpace(s); v {
	case "off":
		return nil, nil
	case "on":
		return append([]string(nil), TLSLibraries...), nil
	}
	want := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		name := strings.ToLower(strings.TrimSpace(part))
		known := false
		for _, lib := range TLSLibraries {
			known = known || name == lib
		}
		if !known {
			return nil, fmt.Errorf("%q is not accepted; want \"off\", \"on\" or a comma list of %s", s, strings.Join(TLSLibraries, ", "))
		}
		want[name] = true
	}
	var libs []string
	for _, lib := range TLSLibraries {
		if want[lib] {
			libs = append(libs, lib)
		}
	}
	return libs, nil
}
