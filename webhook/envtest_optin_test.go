package webhook_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/webhook"
)

// testOptedOutByAnnotation: the annotation form, which the registration's
// objectSelector cannot see, reaches the webhook and is honoured.
func (s *suite) testOptedOutByAnnotation(t *testing.T) {
	before := testutil.ToFloat64(webhook.Pods.WithLabelValues(webhook.ResultSkipped, webhook.SkipOptedOut))
	pod := newPod("shop", "opted-out-annotation", withAnnotations(map[string]string{config.LabelInject: "disabled"}))
	s.create(pod)
	assertNotInjected(t, pod)
	if got := testutil.ToFloat64(webhook.Pods.WithLabelValues(webhook.ResultSkipped, webhook.SkipOptedOut)); got != before+1 {
		t.Fatalf("opted_out skips %v -> %v, want +1: the webhook did not see the pod", before, got)
	}
	s.waitEvent(t, "shop", "opted-out-annotation", webhook.EventSkipped, "annotation podtap.io/inject=disabled")
}

// testSinglePodOptIn: in a namespace without the label, a pod labelled
// enabled is injected through the pod webhook, once; its neighbours, and
// pods of a namespace labelled disabled, are not.
func (s *suite) testSinglePodOptIn(t *testing.T) {
	ns := s.createNamespace("solo", nil, nil)
	pod := newPod(ns, "opted-in", withLabels(map[string]string{config.LabelInject: "enabled"}))
	s.create(pod)
	if n := count(pod, webhook.ContainerName); n != 1 {
		t.Fatalf("%d podtap containers in the opted-in pod", n)
	}
	neighbour := newPod(ns, "neighbour")
	s.create(neighbour)
	assertNotInjected(t, neighbour)

	off := s.createNamespace("solo-off", map[string]string{config.LabelInject: "disabled"}, nil)
	refused := newPod(off, "opted-in", withLabels(map[string]string{config.LabelInject: "enabled"}))
	s.create(refused)
	assertNotInjected(t, refused)

	both := newPod("shop", "enabled-twice", withLabels(map[string]string{config.LabelInject: "enabled"}))
	before := testutil.ToFloat64(webhook.Pods.WithLabelValues(webhook.ResultInjected, ""))
	s.create(both)
	if n := count(both, webhook.ContainerName); n != 1 {
		t.Fatalf("%d podtap containers in a labelled pod of a labelled namespace", n)
	}
	if got := testutil.ToFloat64(webhook.Pods.WithLabelValues(webhook.ResultInjected, "")); got != before+1 {
		t.Fatalf("injections %v -> %v, want +1: both webhooks took the pod", before, got)
	}
}
