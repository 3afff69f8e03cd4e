// Command podtap-receiver is the central receiver: it receives VXLAN
// (capture.source vxlan) from cloud traffic mirroring or tunnel-mode
// sidecars, runs podtap's pipeline on it, and names the pod of each pair
// from the Kubernetes API. It ships in the webhook's image, which links
// client-go already; the sidecar's image stays without it.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/podtap/podtap/internal/sidecarcmd"
	"github.com/podtap/podtap/sidecar"
)

// version is stamped at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	sidecar.TuneRuntime()
	if err := newRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "podtap-receiver:", err)
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "podtap-receiver",
		Short:         "Receive mirrored VXLAN traffic and record its pairs with the pods named from the Kubernetes API",
		Version:       version,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	sidecarcmd.AddFlags(root)
	root.Flags().String("kubeconfig", "", "kubeconfig file; empty means the in-cluster service account (or KUBECONFIG)")
	root.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := sidecarcmd.LoadConfig(cmd)
		if err != nil {
			return err
		}
		kubeconfig, _ := cmd.Flags().GetString("kubeconfig")
		rc, err := restConfig(kubeconfig)
		if err != nil {
			return err
		}
		client, err := kubernetes.NewForConfig(rc)
		if err != nil {
			return fmt.Errorf("kubernetes client: %w", err)
		}
		ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		r, err := start(ctx, cfg, client)
		if err != nil {
			return err
		}
		return r.run(ctx)
	}
	return root
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" && os.Getenv("KUBECONFIG") == "" {
		rc, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("kubernetes: not in a cluster (%w); give --kubeconfig", err)
		}
		return rc, nil
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubernetes: --kubeconfig %q: %w", kubeconfig, err)
	}
	return rc, nil
}
