package webhook

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/util/version"
	k8sversion "k8s.io/apimachinery/pkg/version"
)

// nativeSidecarsSince is the first Kubernetes version that runs native
// sidecars by default (SidecarContainers beta).
var nativeSidecarsSince = version.MajorMinor(1, 29)

// ServerVersioner is the discovery call the webhook needs.
type ServerVersioner interface {
	ServerVersion() (*k8sversion.Info, error)
}

// SupportsNativeSidecars reports whether an API server of this version
// accepts initContainers with restartPolicy Always.
func SupportsNativeSidecars(info *k8sversion.Info) (bool, error) {
	v, err := version.ParseGeneric(info.GitVersion)
	if err != nil {
		// Some distributions report only major and minor ("1", "29+").
		v, err = version.ParseGeneric(fmt.Sprintf("%s.%s", info.Major, trimPlus(info.Minor)))
		if err != nil {
			return false, fmt.Errorf("parsing API server version %q: %w", info.GitVersion, err)
		}
	}
	return v.AtLeast(nativeSidecarsSince), nil
}

func trimPlus(s string) string {
	for len(s) > 0 && (s[len(s)-1] < '0' || s[len(s)-1] > '9') {
		s = s[:len(s)-1]
	}
	return s
}

// VersionWatcher knows whether the cluster supports native sidecars, and
// asks again periodically so a control-plane upgrade is picked up without
// a restart. Until the first answer, and after a failure at start, it says
// no: a regular container works everywhere.
type VersionWatcher struct {
	Discovery ServerVersioner
	Interval  time.Duration
	Log       *slog.Logger

	native atomic.Bool
}

// Cluster is what the handler needs to know.
func (w *VersionWatcher) Cluster() Cluster {
	return Cluster{NativeSidecars: w.native.Load()}
}

// Refresh asks the API server its version now. On failure the last answer
// stands.
func (w *VersionWatcher) Refresh() error {
	info, err := w.Discovery.ServerVersion()
	if err != nil {
		return fmt.Errorf("asking the API server its version: %w", err)
	}
	native, err := SupportsNativeSidecars(info)
	if err != nil {
		return err
	}
	if w.native.Swap(native) != native {
		w.Log.Info("native sidecar support changed", "apiServer", info.GitVersion, "native", native)
	}
	if native {
		NativeSidecars.Set(1)
	} else {
		NativeSidecars.Set(0)
	}
	return nil
}

// Start refreshes every Interval until ctx ends; a manager.Runnable that
// runs on every replica.
func (w *VersionWatcher) Start(ctx context.Context) error {
	t := time.NewTicker(w.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := w.Refresh(); err != nil {
				w.Log.Warn("keeping the last native sidecar decision", "error", err)
			}
		}
	}
}

// NeedLeaderElection is false: every replica admits pods.
func (w *VersionWatcher) NeedLeaderElection() bool { return false }
