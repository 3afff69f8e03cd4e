package main

import (
	"github.com/spf13/cobra"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/internal/sidecarcmd"
)

// newProbeCmd is the injected exec probe: see sidecarcmd.Probe.
func newProbeCmd() *cobra.Command {
	return &cobra.Command{
		Use:       config.ProbeCommand + " " + config.ProbeLive + "|" + config.ProbeReady + "|" + config.ProbeStartup,
		Short:     "Check the running sidecar's health over loopback (the injected liveness, readiness and startup probes)",
		Args:      cobra.MatchAll(cobra.ExactArgs(1), cobra.OnlyValidArgs),
		ValidArgs: []string{config.ProbeLive, config.ProbeReady, config.ProbeStartup},
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := sidecarcmd.LoadConfig(cmd)
			if err != nil {
				return err
			}
			return sidecarcmd.Probe(cmd.Context(), cfg.Metrics.Addr, args[0])
		},
	}
}
