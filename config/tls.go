package config

import (
	"fmt"
	"strings"
)

// TLS libraries capture.tls may name; "on" means all of them.
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
// these; the README explains each.
//   - BPF: load the uprobe programs and create their maps and ring buffer.
//   - PERFMON: attach uprobes (perf_event_open of the uprobe PMU).
//   - SYS_PTRACE: read /proc/PID/maps, /proc/PID/exe, /proc/PID/root and
//     /proc/PID/fd of the application's processes, which run as another
//     user; ptrace_may_access demands it for another user's process.
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
