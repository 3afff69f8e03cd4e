package config

import (
	"fmt"
	"regexp"
	"strings"
)

// AnnotationPrefix starts every annotation and label podtap reads or writes.
const AnnotationPrefix = "podtap.io/"

// Names on namespaces and pods that are not settings.
const (
	// LabelInject is "enabled" on a namespace to opt its pods in and
	// "disabled" on a pod to opt it out.
	LabelInject = AnnotationPrefix + "inject"
	// LabelInjected is "true" on an injected pod, for selectors.
	LabelInjected = AnnotationPrefix + "injected"
	// AnnotationStatus is the webhook's JSON record of an injection.
	AnnotationStatus = AnnotationPrefix + "status"
)

// Annotations of the sidecar container rather than of its settings.
const (
	AnnotationCPURequest    = AnnotationPrefix + "cpu-request"
	AnnotationCPULimit      = AnnotationPrefix + "cpu-limit"
	AnnotationMemoryRequest = AnnotationPrefix + "memory-request"
	AnnotationMemoryLimit   = AnnotationPrefix + "memory-limit"
	AnnotationNativeSidecar = AnnotationPrefix + "native-sidecar"
	AnnotationImage         = AnnotationPrefix + "image"
)

// AnnotationInterface picks the capture interface; the webhook needs to know
// whether a pod set it, because a mesh otherwise switches it to lo.
const AnnotationInterface = AnnotationPrefix + "interface"

// AnnotationMode chooses parsing in the pod or tunnelling to the receiver;
// in tunnel mode the webhook also points the sidecar at the receiver.
const AnnotationMode = AnnotationPrefix + "mode"

// AnnotationTLS opts a pod into TLS plaintext capture; the webhook also
// changes the pod for it (capabilities, a shared PID namespace).
const AnnotationTLS = AnnotationPrefix + "tls"

// Annotation is one podtap.io/* key a namespace or pod may set.
type Annotation struct {
	// Key is the full annotation key.
	Key string
	// Setting is the sidecar config key it sets; empty for the container's
	// own fields (resources, native sidecar, image).
	Setting string
	// Meaning documents the accepted values for users.
	Meaning string
	// check validates what the sidecar's own validation cannot know (names
	// the kernel or Kafka would refuse); nil when that validation suffices.
	check func(string) error
}

// Annotations lists every key, in documentation order. Namespace values are
// defaults for the namespace's pods; pod values override them.
var Annotations = []Annotation{
	{Key: AnnotationInterface, Setting: "capture.interface", check: checkInterface,
		Meaning: `interface captured: "auto" (lo under a mesh, else eth0), "eth0", "lo" or another name; a mesh switches it to lo unless the pod sets it`},
	{Key: AnnotationPrefix + "ports", Setting: "capture.ports",
		Meaning: "TCP ports captured, comma separated; unset or empty captures every port"},
	{Key: AnnotationPrefix + "exclude-ports", Setting: "capture.exclude_ports",
		Meaning: "TCP ports never captured, comma separated; they win over ports"},
	{Key: AnnotationTLS, Setting: "capture.tls",
		Meaning: `TLS plaintext captured through eBPF uprobes: "off", "on" (every supported library) or a comma list of openssl, boringssl, go; adds capabilities to the sidecar and shares the pod's PID namespace`},
	{Key: AnnotationPrefix + "max-message-bytes", Setting: "limits.max_message_bytes",
		Meaning: "largest request or response body kept, e.g. 512Ki, 2Mi"},
	{Key: AnnotationPrefix + "response-timeout", Setting: "pairing.response_timeout",
		Meaning: "how long a request waits for its response, e.g. 30s"},
	{Key: AnnotationPrefix + "content-types", Setting: "filter.content_types", check: checkNotEmpty,
		Meaning: "media types kept, comma separated, e.g. application/json,text/xml"},
	{Key: AnnotationPrefix + "sample-rate", Setting: "capture.sample_rate",
		Meaning: "fraction of connections captured, 0 < rate <= 1"},
	{Key: AnnotationPrefix + "redact-headers", Setting: "redact.headers", check: checkHeaderNames,
		Meaning: "header names masked in addition to the configured ones, comma separated"},
	{Key: AnnotationPrefix + "redact-types", Setting: "redact.types", check: checkTypes,
		Meaning: `sensitive types masked in addition to the configured ones, comma separated: names such as email, card, or the groups "credentials" and "personal"`},
	{Key: AnnotationPrefix + "kafka-topic", Setting: "kafka.topic", check: checkTopic,
		Meaning: "Kafka topic receiving the pod's pairs"},
	{Key: AnnotationPrefix + "grpc-reflection", Setting: "grpc.reflection",
		Meaning: `which gRPC servers are asked for schemas: "inbound", "all" or "off"`},
	{Key: AnnotationMode, Setting: "mode",
		Meaning: `"parse": the sidecar parses in the pod; "tunnel": it sends each captured packet, VXLAN-encapsulated, to the receiver, which parses it`},
	{Key: AnnotationPrefix + "log-level", Setting: "log.level",
		Meaning: `sidecar log level: "debug", "info", "warn" or "error"`},
	{Key: AnnotationCPURequest, check: checkQuantity,
		Meaning: "sidecar CPU request, e.g. 100m"},
	{Key: AnnotationCPULimit, check: checkQuantity,
		Meaning: "sidecar CPU limit, e.g. 500m; at most 1 also sets GOMAXPROCS=1"},
	{Key: AnnotationMemoryRequest, check: checkQuantity,
		Meaning: "sidecar memory request, e.g. 64Mi"},
	{Key: AnnotationMemoryLimit, check: checkQuantity,
		Meaning: "sidecar memory limit, e.g. 256Mi; also sets GOMEMLIMIT"},
	{Key: AnnotationNativeSidecar, check: checkBool,
		Meaning: `"true": an init container with restartPolicy Always (needs Kubernetes 1.29); "false": a regular container`},
	{Key: AnnotationImage, check: checkImage,
		Meaning: "sidecar image; honoured only when the webhook's injection.allow_image_override is on"},
}

// LookupAnnotation finds the table entry of an annotation key.
func LookupAnnotation(key string) (Annotation, bool) {
	for _, a := range Annotations {
		if a.Key == key {
			return a, true
		}
	}
	return Annotation{}, false
}

// Reserved reports whether key is a podtap.io/* name that is not a setting
// (the labels, the status), so it is not reported as unknown.
func Reserved(key string) bool {
	switch key {
	case LabelInject, LabelInjected, AnnotationStatus:
		return true
	}
	return false
}

func checkNotEmpty(s string) error {
	if strings.Trim(s, ", \t") == "" {
		return fmt.Errorf("%q is empty; want at least one value", s)
	}
	return nil
}

// checkInterface accepts what Linux accepts as an interface name
// (IFNAMSIZ-1 bytes, no slash or blank), since AF_PACKET binds by name.
func checkInterface(s string) error {
	if s == "" || len(s) > 15 || s == "." || s == ".." || strings.ContainsAny(s, "/ \t\n:") {
		return fmt.Errorf(`%q is not an interface name; want "auto", "eth0", "lo" or another name of 1 to 15 characters`, s)
	}
	return nil
}

var headerName = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

func checkHeaderNames(s string) error {
	if err := checkNotEmpty(s); err != nil {
		return err
	}
	for _, h := range strings.Split(s, ",") {
		if h = strings.TrimSpace(h); h != "" && !headerName.MatchString(h) {
			return fmt.Errorf("%q is not an HTTP header name", h)
		}
	}
	return nil
}

var topicName = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)

func checkTopic(s string) error {
	if !topicName.MatchString(s) || s == "." || s == ".." {
		return fmt.Errorf("%q is not a Kafka topic name; want 1 to 249 of a-z A-Z 0-9 . _ -", s)
	}
	return nil
}

func checkQuantity(s string) error {
	_, err := parsePositiveQuantity(s)
	return err
}

func checkBool(s string) error {
	if s != "true" && s != "false" {
		return fmt.Errorf(`%q is not accepted; want "true" or "false"`, s)
	}
	return nil
}
