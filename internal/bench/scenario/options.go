// Package scenario is the bench's measurements: replays of the generated
// captures (and GoReplay's, to compare), the live sidecar at rising rates
// under a CPU limit, idle connections, and what capturing costs the
// application. Each adds its rows to the report.
package scenario

// Options are what the scenarios take from the bench's flags.
type Options struct {
	// Quick makes small captures and short runs.
	Quick bool
	// GoReplay is the GoReplay binary; empty leaves its rows out.
	GoReplay string
	// Captures limits the replays to these captures (empty: all).
	Captures []string
	// Runs is the replays of each capture per GOMAXPROCS, and the tunnel
	// and tls scenarios' rounds of each mode.
	Runs int
	// Cache is where generated captures are kept.
	Cache string
	// Profile is the prefix of the first replays' CPU and allocation
	// profiles (empty: none).
	Profile string
	// Sidecar is the podtap-sidecar binary of the live scenarios.
	Sidecar string
	// SidecarEnv are extra KEY=VALUE variables of the live scenarios'
	// sidecar (PODTAP_CAPTURE_RING_BYTES, GOGC...), for studies of its
	// settings.
	SidecarEnv []string
}
