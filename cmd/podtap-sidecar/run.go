package main

import (
	"log/slog"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/internal/sidecarcmd"

	"github.com/podtap/podtap/sidecar"
	"github.com/podtap/podtap/sidecar/capture"
)

func newRunCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "run",
		Short: "Capture live traffic on the pod's interface (the default command)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := sidecarcmd.LoadConfig(cmd)
			if err != nil {
				return err
			}
			iface, err := capture.ResolveInterface(cfg.Capture.Interface)
			if err != nil {
				return err
			}
			ips := sidecarcmd.PodIPs(cfg)
			if len(ips) == 0 {
				if ips, err = capture.InterfaceAddrs(iface); err != nil {
					return err
				}
			}
			src, err := capture.OpenLive(iface, cfg.Capture)
			if err != nil {
				return err
			}
			defer src.Close()
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			if cfg.Mode == config.ModeTunnel {
				return runTunnel(ctx, cfg, iface, src)
			}
			s, err := sidecarcmd.Start(ctx, cfg, sidecar.Where{PodIPs: ips, Loopback: iface == "lo"})
			if err != nil {
				return err
			}
			slog.Info("capturing", "interface", iface, "pod_ips", ips, "sink", cfg.Sink.Type, "version", version)
			runErr := s.Run(ctx, src)
			if err := s.Close(); runErr == nil {
				runErr = err
			}
			return runErr
		},
	}
}
