// Command podtap-demo runs podtap's local demo: a network namespace standing
// in for a pod, an HTTP and a gRPC service inside it, the real capture
// pipeline on its eth0, and the pairs shipped through Kafka and printed. It
// is a command of its own so that the sidecar image carries none of it.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/internal/netns"
	"github.com/podtap/podtap/internal/sidecarcmd"
	"github.com/podtap/podtap/sidecar"
)

func main() {
	sidecar.TuneRuntime()
	if err := newRoot().Execute(); err != nil {
		// Errors are written for people: one line, no stack trace.
		fmt.Fprintln(os.Stderr, "podtap-demo:", err)
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	var rounds int
	cmd := &cobra.Command{
		Use:   "podtap-demo",
		Short: "Capture a demo service in a network namespace and print its pairs (needs root)",
		Long: `podtap-demo creates a network namespace with a veth pair (a stand-in for a
pod), starts a small HTTP/1.1 JSON service and a gRPC service with reflection
inside it, captures the namespace's eth0 with the real pipeline, drives a mix
of requests at them from the host (keep-alive, chunked, gzip, a form POST, a
404, a kubelet probe; unary and streaming gRPC calls, one failing), ships the
pairs through Kafka (an in-process kfake cluster unless --kafka-brokers is
given), prints each pair as it is consumed back, then a summary of pairs and
drops by reason.
Everything it made is removed when it ends, also on Ctrl-C.`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := sidecarcmd.LoadConfig(cmd)
			if err != nil {
				return err
			}
			if err := netns.Check(); err != nil {
				return fmt.Errorf("demo: %w", err)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			viaKafka := cfg.Sink.Type == "kafka" || !sinkChosen(cmd.Flags().Changed("sink"))
			return runDemo(ctx, cfg, rounds, viaKafka, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	sidecarcmd.AddFlags(cmd)
	cmd.Flags().IntVar(&rounds, "rounds", 2, "times the request mix is sent")
	return cmd
}

// sinkChosen reports whether the user picked a sink for the demo.
func sinkChosen(flagSet bool) bool {
	_, env := os.LookupEnv(config.EnvName("sink.type"))
	return flagSet || env
}
