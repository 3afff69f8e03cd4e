package config

import (
	"fmt"
	"strings"
)

// AnnotationTable renders the podtap.io annotations with cfg's defaults as
// a Markdown table: `podtap-webhook annotations` prints it, and the README
// carries it for the default configuration (make generate).
func AnnotationTable(cfg *Webhook) (string, error) {
	var b strings.Builder
	b.WriteString("| annotation | default | meaning |\n|---|---|---|\n")
	for _, a := range Annotations {
		def, err := annotationDefault(cfg, a)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", a.Key, def, a.Meaning)
	}
	return b.String(), nil
}

func annotationDefault(cfg *Webhook, a Annotation) (string, error) {
	var v string
	switch a.Key {
	case AnnotationCPURequest:
		v = cfg.Sidecar.CPURequest
	case AnnotationCPULimit:
		v = cfg.Sidecar.CPULimit
	case AnnotationMemoryRequest:
		v = cfg.Sidecar.MemoryRequest
	case AnnotationMemoryLimit:
		v = cfg.Sidecar.MemoryLimit
	case AnnotationNativeSidecar:
		v = cfg.Injection.NativeSidecar
	case AnnotationImage:
		v = cfg.Sidecar.Image
	default:
		var err error
		if v, err = Value(cfg.Sidecar.Settings, a.Setting); err != nil {
			return "", err
		}
	}
	if v == "" {
		return "(none)", nil
	}
	return "`" + v + "`", nil
}
