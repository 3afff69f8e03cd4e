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

// openSource opens capture.source, and says where the pod is and what is
// captured, for the log.
func openSource(cfg config.Sidecar) (capture.Source, sidecar.Where, []any, error) {
	ips := sidecarcmd.PodIPs(cfg)
	if cfg.Capture.Source == config.SourceVXLAN {
		src, err := capture.OpenVXLAN(cfg.Capture)
		if err != nil {
			return nil, sidecar.Where{}, nil, err
		}
		what := []any{"source", config.SourceVXLAN, "port", cfg.Capture.VXLAN.Port, "vnis", cfg.Capture.VXLAN.VNIs}
		return src, sidecar.Where{PodIPs: ips}, what, nil
	}
	iface, err := capture.ResolveInterface(cfg.Capture.Interface)
	if err != nil {
		return nil, sidecar.Where{}, nil, err
	}
	if len(ips) == 0 {
		if ips, err = capture.InterfaceAddrs(iface); err != nil {
			return nil, sidecar.Where{}, nil, err
		}
	}
	src, err := capture.OpenLive(iface, cfg.Capture)
	if err != nil {
		return nil, sidecar.Where{}, nil, err
	}
	return src, sidecar.Where{PodIPs: ips, Loopback: iface == "lo"}, []any{"interface", iface}, nil
}

func newRunCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "run",
		Short: "Capture live traffic on the pod's interface, or receive VXLAN (capture.source; the default command)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := sidecarcmd.LoadConfig(cmd)
			if err != nil {
				return err
			}
			src, where, what, err := openSource(cfg)
			if err != nil {
				return err
			}
			defer src.Close()
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			if cfg.Mode == config.ModeTunnel {
				return runTunnel(ctx, cfg, what, src)
			}
			s, err := sidecarcmd.Start(ctx, cfg, where)
			if err != nil {
				return err
			}
			slog.Info("capturing", append(what, "pod_ips", where.PodIPs, "sink", cfg.Sink.Type, "version", version)...)
			s.StartTLS(ctx)
			runErr := s.Run(ctx, src)
			if err := s.Close(); runErr == nil {
				runErr = err
			}
			return runErr
		},
	}
}
