package main

import (
	"context"
	"fmt"
	"log/slog"

	"k8s.io/client-go/kubernetes"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/internal/sidecarcmd"
	"github.com/podtap/podtap/receiver/pods"
	"github.com/podtap/podtap/sidecar"
	"github.com/podtap/podtap/sidecar/capture"
)

// receiver is the VXLAN socket, the pod map and the pipeline session.
type receiver struct {
	cfg     config.Sidecar
	src     *capture.VXLAN
	pods    *pods.Map
	session *sidecarcmd.Session
}

// start waits for the pod informer's first list before it opens the
// socket, so the first pairs are named like the rest.
func start(ctx context.Context, cfg config.Sidecar, client kubernetes.Interface) (*receiver, error) {
	if cfg.Capture.Source != config.SourceVXLAN {
		return nil, fmt.Errorf("capture.source: %q is not accepted; podtap-receiver reads %q only", cfg.Capture.Source, config.SourceVXLAN)
	}
	podMap, err := pods.Start(ctx, client, 0)
	if err != nil {
		return nil, err
	}
	src, err := capture.OpenVXLAN(cfg.Capture)
	if err != nil {
		return nil, err
	}
	s, err := sidecarcmd.Start(ctx, cfg, sidecar.Where{Pods: podMap})
	if err != nil {
		src.Close()
		return nil, err
	}
	return &receiver{cfg: cfg, src: src, pods: podMap, session: s}, nil
}

// run receives until ctx is done, then drains the pipeline into the sink.
func (r *receiver) run(ctx context.Context) error {
	defer r.src.Close()
	slog.Info("receiving", "port", r.cfg.Capture.VXLAN.Port, "vnis", r.cfg.Capture.VXLAN.VNIs, "sink", r.cfg.Sink.Type, "version", version)
	runErr := r.session.Run(ctx, r.src)
	if err := r.session.Close(); runErr == nil {
		runErr = err
	}
	return runErr
}
