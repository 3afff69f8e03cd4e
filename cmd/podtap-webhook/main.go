// Command podtap-webhook is podtap's mutating admission webhook: it injects
// the capture sidecar into the pods of namespaces labelled
// podtap.io/inject=enabled. `registration` prints the
// MutatingWebhookConfiguration it expects, the object the chart renders.
package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/yaml"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/webhook"
)

// version is stamped at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

// flagKeys maps each flag to the config key it sets; flags beat env, env
// beats the file (config.Source).
var flagKeys = map[string]string{
	"namespace":    "namespace",
	"port":         "server.port",
	"cert-dir":     "server.cert_dir",
	"metrics-addr": "server.metrics_addr",
	"health-addr":  "server.health_addr",
	"tls-mode":     "tls.mode",
	"leader-elect": "leader_election.enabled",
	"log-level":    "log.level",
}

func main() {
	if err := newRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "podtap-webhook:", err)
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "podtap-webhook",
		Short: "Inject podtap's capture sidecar into opted-in pods",
		Long: `podtap-webhook serves the mutating admission webhook (/mutate-v1-pod, TLS),
/metrics, and /healthz and /readyz. Its configuration comes from a YAML file
(--config or PODTAP_CONFIG), PODTAP_* env and flags, in rising precedence.`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			log := setupLogging(cfg.Log)
			restConfig, err := ctrl.GetConfig()
			if err != nil {
				return fmt.Errorf("reaching the API server: %w", err)
			}
			return webhook.Run(ctrl.SetupSignalHandler(), webhook.Options{
				Config:     cfg,
				Version:    version,
				RestConfig: restConfig,
				Log:        log,
			})
		},
	}
	f := root.PersistentFlags()
	f.String("config", "", "YAML configuration file (env PODTAP_CONFIG)")
	f.String("namespace", "", "the webhook's own namespace (env POD_NAMESPACE)")
	f.Int("port", 0, "port of the admission endpoint (default 9443)")
	f.String("cert-dir", "", "directory of tls.crt and tls.key")
	f.String("metrics-addr", "", `address serving /metrics (default ":8080"; "0" turns it off)`)
	f.String("health-addr", "", `address serving /healthz and /readyz (default ":8081")`)
	f.String("tls-mode", "", "auto, cert-manager or files (default auto)")
	f.Bool("leader-elect", true, "elect a leader to rotate certificates")
	f.String("log-level", "", "debug, info, warn or error")
	root.AddCommand(newRegistrationCmd(), newAnnotationsCmd())
	return root
}

func newRegistrationCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "registration",
		Short: "Print the MutatingWebhookConfiguration for this configuration, as YAML",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			out, err := yaml.Marshal(webhook.Registration(&cfg, nil))
			if err != nil {
				return fmt.Errorf("encoding the registration: %w", err)
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
}

func newAnnotationsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "annotations",
		Short: "Print the podtap.io annotations, with this configuration's defaults, as a Markdown table",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			table, err := config.AnnotationTable(&cfg)
			if err != nil {
				return err
			}
			_, err = fmt.Fprint(cmd.OutOrStdout(), table)
			return err
		},
	}
}

// annotationDefault is what a pod gets without the annotation.
func loadConfig(cmd *cobra.Command) (config.Webhook, error) {
	flags := cmd.Flags()
	file, _ := flags.GetString("config")
	return config.LoadWebhook(config.Source{File: file, Flags: flags, FlagKeys: flagKeys})
}

// setupLogging sends podtap's, controller-runtime's and client-go's logs
// through one slog handler.
func setupLogging(cfg config.Log) *slog.Logger {
	h := cfg.Handler(os.Stderr)
	log := slog.New(h)
	slog.SetDefault(log)
	ctrl.SetLogger(logr.FromSlogHandler(h))
	klog.SetSlogLogger(log)
	return log
}
