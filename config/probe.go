package config

// The exec probes the webhook injects and podtap-sidecar answers:
// `/podtap-sidecar probe live|ready`. Defined here, the package both sides
// import, so the command line the webhook writes is the one the sidecar
// parses.
const (
	// SidecarBinary is podtap-sidecar's path in its image.
	SidecarBinary = "/podtap-sidecar"
	// ProbeCommand is the subcommand.
	ProbeCommand = "probe"
	// ProbeLive checks that the process answers (/healthz).
	ProbeLive = "live"
	// ProbeReady checks capture, leaving the sink out
	// (/readyz?exclude=sink).
	ProbeReady = "ready"
)
