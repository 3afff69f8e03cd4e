package main

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/podtap/podtap/config"
)

// section is the generated body of one pair of README markers.
type section struct{ name, body string }

func readmeSections(root string) ([]section, error) {
	docs, err := fieldDocs(root)
	if err != nil {
		return nil, err
	}
	sidecar, err := keyTable(config.DefaultSidecar(), docs, func(k string) bool { return !strings.HasPrefix(k, "kafka.") })
	if err != nil {
		return nil, err
	}
	kafka, err := keyTable(config.DefaultSidecar(), docs, func(k string) bool { return strings.HasPrefix(k, "kafka.") })
	if err != nil {
		return nil, err
	}
	webhook, err := keyTable(config.DefaultWebhook(), docs, func(k string) bool { return !strings.HasPrefix(k, "sidecar.settings.") })
	if err != nil {
		return nil, err
	}
	mets, kafkaMets, reasons, err := metricTables(root)
	if err != nil {
		return nil, err
	}
	flags, err := flagTable(root)
	if err != nil {
		return nil, err
	}
	defaults := config.DefaultWebhook()
	annotations, err := config.AnnotationTable(&defaults)
	if err != nil {
		return nil, err
	}
	return []section{
		{"sidecar-keys", sidecar},
		{"kafka-keys", kafka},
		{"webhook-keys", webhook},
		{"metrics", mets},
		{"kafka-metrics", kafkaMets},
		{"drop-reasons", reasons},
		{"flags", flags},
		{"annotations", annotations},
	}, nil
}

// keyTable lists the keys of cfg that keep accepts, with their env, their
// default and their field's doc.
func keyTable(cfg any, docs map[string]map[string]string, keep func(string) bool) (string, error) {
	var b strings.Builder
	b.WriteString("| key | env | default | meaning |\n|---|---|---|---|\n")
	for _, key := range config.Keys(cfg) {
		if !keep(key) {
			continue
		}
		val, err := config.Value(cfg, key)
		if err != nil {
			return "", err
		}
		def := "(none)"
		if val != "" {
			def = "`" + val + "`"
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s |\n", key, config.EnvName(key), cell(def), cell(docOf(reflect.TypeOf(cfg), key, docs)))
	}
	return b.String(), nil
}

// docOf follows a dotted key through the struct types to its field's doc.
func docOf(t reflect.Type, key string, docs map[string]map[string]string) string {
	name, rest, nested := strings.Cut(key, ".")
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Tag.Get("mapstructure") != name {
			continue
		}
		if nested {
			return docOf(f.Type, rest, docs)
		}
		return docs[t.Name()][name]
	}
	return ""
}

func metricTables(root string) (sidecar, kafka, reasons string, err error) {
	mets, err := scanMetrics(root, "sidecar")
	if err != nil {
		return "", "", "", err
	}
	sort.Slice(mets, func(i, j int) bool { return mets[i].name < mets[j].name })
	var m, k strings.Builder
	for _, b := range []*strings.Builder{&m, &k} {
		b.WriteString("| metric | labels | meaning |\n|---|---|---|\n")
	}
	for _, x := range mets {
		b := &m
		if strings.HasPrefix(x.name, "podtap_kafka_") {
			b = &k
		}
		fmt.Fprintf(b, "| `%s` | %s | %s |\n", x.name, cell(strings.Join(x.labels, ", ")), cell(x.help))
	}
	rs, err := scanConsts(root, "sidecar/metrics", "Reason")
	if err != nil {
		return "", "", "", err
	}
	var r strings.Builder
	r.WriteString("| reason | meaning |\n|---|---|\n")
	for _, x := range rs {
		fmt.Fprintf(&r, "| `%s` | %s |\n", x.name, cell(x.help))
	}
	return m.String(), k.String(), r.String(), nil
}

func flagTable(root string) (string, error) {
	flags, err := scanConsts(root, "sidecar/message", "Flag")
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("| flag | meaning |\n|---|---|\n")
	for _, f := range flags {
		fmt.Fprintf(&b, "| `%s` | %s |\n", f.name, cell(f.help))
	}
	return b.String(), nil
}
