package main

import (
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/podtap/podtap/internal/sidecarcmd"

	"github.com/podtap/podtap/sidecar/coverage"
	"github.com/podtap/podtap/sidecar/sink"
)

func newConsumeCmd() *cobra.Command {
	var opts sink.ConsumeOptions
	var reports bool
	cmd := &cobra.Command{
		Use:   "consume",
		Short: "Print the pairs in the Kafka topic as JSON lines",
		Long: `consume reads kafka.topic with the same kafka.* settings as the sink
(brokers, TLS, SASL) and prints one JSON line per record: topic, partition,
offset, timestamp, key, headers and the pair as value. With --value-only it
prints each pair exactly as the stdout sink does. With --coverage it reads
kafka.coverage_topic instead and prints each coverage report as tables. By
default it reads from the beginning to the end the topic had when it started,
then exits.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := sidecarcmd.LoadConfig(cmd)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			if reports {
				cfg.Kafka.Topic = cfg.Kafka.CoverageTopic
				if !opts.ValueOnly {
					opts.Print = coverage.WriteTable
				}
			}
			return sink.Consume(ctx, cfg.Kafka, cmd.OutOrStdout(), opts)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&opts.FromEnd, "from-end", false, "start at the end of the topic instead of its beginning")
	f.BoolVarP(&opts.Follow, "follow", "f", false, "keep waiting for new records")
	f.IntVar(&opts.Max, "max", 0, "stop after this many records (0: no limit)")
	f.BoolVar(&opts.ValueOnly, "value-only", false, "print only each pair, as the stdout sink does")
	f.BoolVar(&reports, "coverage", false, "read kafka.coverage_topic and print its coverage reports as tables (with --value-only, as JSON)")
	return cmd
}
