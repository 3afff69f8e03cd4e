package sidecarcmd

import (
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/podtap/podtap/config"
)

// flagKeys maps each pipeline flag to the config key it sets; flags beat
// env, env beats the file (config.Source).
var flagKeys = map[string]string{
	"interface":           "capture.interface",
	"ports":               "capture.ports",
	"pod-ip":              "pod.ip",
	"sink":                "sink.type",
	"metrics-addr":        "metrics.addr",
	"grpc-descriptor-set": "grpc.descriptor_sets",
	"log-level":           "log.level",
	"kafka-brokers":       "kafka.brokers",
	"kafka-topic":         "kafka.topic",
}

// AddFlags adds the pipeline flags to cmd and its subcommands.
func AddFlags(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.String("config", "", "YAML configuration file (env PODTAP_CONFIG)")
	f.String("interface", "", `interface to capture: a name, or "auto" (lo under a service mesh, else eth0)`)
	f.String("ports", "", "TCP ports to capture, comma separated (default all)")
	f.String("pod-ip", "", "the pod's own addresses, comma separated, for each pair's direction")
	f.String("sink", "", "where pairs go: stdout, file:PATH or kafka")
	f.Bool("no-filter", false, "emit every parsed pair: no filter rules, no content-type rule")
	f.String("metrics-addr", "", "address serving /metrics, /healthz and /readyz (empty: off)")
	f.StringSlice("grpc-descriptor-set", nil, "protoset files with gRPC schemas, used before reflection")
	f.String("log-level", "", "debug, info, warn or error")
	f.String("kafka-brokers", "", "Kafka seed brokers, host:port, comma separated (kafka.brokers)")
	f.String("kafka-topic", "", "Kafka topic of the pairs (kafka.topic, default podtap.pairs)")
}

// LoadConfig reads the configuration for a command and sets up logging.
func LoadConfig(cmd *cobra.Command) (config.Sidecar, error) {
	flags := cmd.Flags()
	file, _ := flags.GetString("config")
	cfg, err := config.LoadSidecar(config.Source{File: file, Flags: flags, FlagKeys: flagKeys})
	if err != nil {
		return cfg, err
	}
	if noFilter, _ := flags.GetBool("no-filter"); noFilter {
		cfg.Filter.Enabled = false
	}
	setupLogging(cfg.Log)
	return cfg, nil
}

func setupLogging(cfg config.Log) {
	slog.SetDefault(slog.New(cfg.Handler(os.Stderr)))
}
