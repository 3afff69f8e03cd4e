// Command podtap-sidecar captures a pod's API traffic and ships each
// request/response pair as one record: `run` (live, the default), `replay`
// (pcap/pcapng files through the same pipeline) and `consume` (read records
// back from Kafka). The local demo is a command of its own, podtap-demo, so
// that none of it ships in the sidecar image.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/podtap/podtap/internal/sidecarcmd"
	"github.com/podtap/podtap/sidecar"
)

// version is stamped at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	sidecar.TuneRuntime()
	if err := newRoot().Execute(); err != nil {
		// Errors are written for people: one line, no stack trace.
		fmt.Fprintln(os.Stderr, "podtap-sidecar:", err)
		var ec exitCoder
		if errors.As(err, &ec) {
			os.Exit(ec.ExitCode())
		}
		os.Exit(1)
	}
}

type exitCoder interface{ ExitCode() int }

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "podtap-sidecar",
		Short:         "Capture a pod's API traffic as request/response pairs",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	sidecarcmd.AddFlags(root)
	run := newRunCmd()
	root.RunE = run.RunE
	root.AddCommand(run, newReplayCmd(), newConsumeCmd(), newProbeCmd())
	return root
}
