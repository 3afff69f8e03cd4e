package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/podtap/podtap/config"
)

// chartValues is the chart's values file; the values that mirror a webhook
// default are written from config.DefaultWebhook.
const chartValues = "charts/podtap/values.yaml"

// mirrors maps a chart value (dotted path in values.yaml) to the webhook key
// whose default it is, and renders that default as the chart spells it.
var mirrors = []struct {
	path, key string
	render    func(string) (string, error)
}{
	{"webhook.port", "server.port", same},
	{"webhook.servicePort", "registration.service_port", same},
	{"webhook.timeoutSeconds", "registration.timeout", seconds},
	{"webhook.url", "registration.url", same},
	{"webhook.nativeSidecar", "injection.native_sidecar", same},
	{"webhook.versionRefresh", "injection.version_refresh", shortDuration},
	{"webhook.allowImageOverride", "injection.allow_image_override", same},
	{"webhook.allowTLSCapture", "injection.allow_tls_capture", same},
	{"webhook.admissionCheck", "injection.admission_check.enabled", same},
	{"metrics.port", "server.metrics_addr", port},
	{"health.port", "server.health_addr", port},
	{"logLevel", "log.level", same},
	{"logFormat", "log.format", same},
	{"leaderElection.enabled", "leader_election.enabled", same},
	{"tls.mode", "tls.mode", same},
	{"tls.auto.caValidity", "tls.ca_validity", shortDuration},
	{"tls.auto.certValidity", "tls.cert_validity", shortDuration},
	{"tls.auto.renewBefore", "tls.renew_before", shortDuration},
	{"tls.auto.checkInterval", "tls.check_interval", shortDuration},
	{"sidecar.image.pullPolicy", "sidecar.image_pull_policy", same},
	{"sidecar.resources.cpuRequest", "sidecar.cpu_request", same},
	{"sidecar.resources.cpuLimit", "sidecar.cpu_limit", same},
	{"sidecar.resources.memoryRequest", "sidecar.memory_request", same},
	{"sidecar.resources.memoryLimit", "sidecar.memory_limit", same},
	{"kafka.topic", "sidecar.settings.kafka.topic", same},
	{"receiver.service", "receiver.service", same},
	{"receiver.port", "sidecar.settings.capture.vxlan.port", same},
	{"receiver.metricsPort", "sidecar.settings.metrics.addr", port},
}

func same(s string) (string, error) { return s, nil }

func seconds(s string) (string, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return "", err
	}
	return strconv.Itoa(int(d / time.Second)), nil
}

// shortDuration drops the zero minutes and seconds Go prints ("10m0s").
func shortDuration(s string) (string, error) {
	s = strings.TrimSuffix(s, "0s")
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s, nil
}

func port(addr string) (string, error) {
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		return "", fmt.Errorf("%q has no port", addr)
	}
	return addr[i+1:], nil
}

// yamlScalar quotes what YAML would not read back as the same string.
func yamlScalar(s string) string {
	if s == "" {
		return `""`
	}
	return s
}

// writeValues rewrites, in the values file, the line of every mirrored
// value, leaving comments and everything else as they are.
func writeValues(doc []byte) ([]byte, error) {
	want := map[string]string{}
	cfg := config.DefaultWebhook()
	for _, m := range mirrors {
		v, err := config.Value(cfg, m.key)
		if err != nil {
			return nil, err
		}
		if want[m.path], err = m.render(v); err != nil {
			return nil, fmt.Errorf("%s (%s): %w", m.path, m.key, err)
		}
	}
	lines := strings.Split(string(doc), "\n")
	var path []string
	for i, line := range lines {
		trimmed := strings.TrimLeft(line, " ")
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		depth := (len(line) - len(trimmed)) / 2
		key, _, ok := strings.Cut(trimmed, ":")
		if !ok || strings.HasPrefix(trimmed, "-") {
			continue
		}
		path = append(path[:min(depth, len(path))], key)
		dotted := strings.Join(path, ".")
		v, mirrored := want[dotted]
		if !mirrored {
			continue
		}
		lines[i] = line[:len(line)-len(trimmed)] + key + ": " + yamlScalar(v)
		delete(want, dotted)
	}
	for p := range want {
		return nil, fmt.Errorf("no value %s", p)
	}
	return []byte(strings.Join(lines, "\n")), nil
}
