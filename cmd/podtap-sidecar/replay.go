package main

import (
	"fmt"
	"log/slog"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/podtap/podtap/internal/sidecarcmd"

	"github.com/podtap/podtap/sidecar"
	"github.com/podtap/podtap/sidecar/capture"
)

func newReplayCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "replay [--no-filter] FILE...",
		Short: "Run pcap or pcapng files through the pipeline",
		Long: `Replay reads pcap and pcapng captures (Ethernet, BSD loopback, Linux cooked
SLL/SLL2 and raw IP link types) and runs them through the same pipeline as
live capture. Each file is a capture of its own: connections do not span files.
Without --pod-ip every pair's direction is "unknown".`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			cfg, err := sidecarcmd.LoadConfig(cmd)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			s, err := sidecarcmd.Start(ctx, cfg, sidecar.Where{PodIPs: sidecarcmd.PodIPs(cfg)})
			if err != nil {
				return err
			}
			for _, file := range files {
				src, err := capture.OpenFile(file)
				if err != nil {
					_ = s.Close()
					return err
				}
				err = s.Run(ctx, src)
				_ = src.Close()
				if err != nil {
					_ = s.Close()
					return fmt.Errorf("replaying %s: %w", file, err)
				}
				slog.Debug("replayed", "file", file)
			}
			return s.Close()
		},
	}
}
