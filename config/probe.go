package config

import "time"

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
	// ProbeStartup waits for ProbeReady, at most StartupWait, and then
	// succeeds whatever the answer.
	ProbeStartup = "startup"
)

// StartupWait bounds how long a native sidecar's startup probe holds the
// application back while capture comes up. The kubelet starts the next
// containers only once it passes, which is what makes podtap see
// connections from their first byte; a probe that could fail would hold
// them forever, so it gives way instead, and the sidecar's log says why.
const StartupWait = 10 * time.Second
