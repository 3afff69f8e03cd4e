package webhook

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/podtap/podtap/config"
)

// Cluster is what the webhook knows of the cluster a pod is created in.
type Cluster struct {
	// NativeSidecars is true when the API server accepts initContainers
	// with restartPolicy Always (Kubernetes 1.29 and newer).
	NativeSidecars bool
	// Kubelets are the nodes' kubelet versions; empty when unknown.
	Kubelets []NodeKubelet
	// RestartPolicyDropped is true when a dry-run showed the API server
	// storing podtap's init container without its restartPolicy (the
	// SidecarContainers gate is off): native is then impossible.
	RestartPolicyDropped bool
	// TLSRejected, when set, says why a dry-run showed the API server
	// rejecting the sidecar with TLS capture and admitting the plain one:
	// the pod is then injected without TLS capture.
	TLSRejected string
}

// Input is everything one mutation depends on; Mutate reads nothing else,
// so the same input always gives the same pod.
type Input struct {
	Config    *config.Webhook
	Version   string
	Cluster   Cluster
	Namespace *corev1.Namespace
	Pod       *corev1.Pod
}

// Result is the outcome of Mutate.
type Result struct {
	// Pod is the injected pod, a copy; nil when the pod is skipped.
	Pod *corev1.Pod
	// Skip says why the pod is not injected; nil when it is.
	Skip *Skip
	// Invalid lists the annotation values that were ignored.
	Invalid []Invalid
	// Status is what Pod's podtap.io/status says.
	Status Status
	// Mesh is the service mesh found, if any.
	Mesh Mesh
}

// Mutate injects the sidecar into a copy of the pod, or says why not. A
// pod injected by an earlier pass has its podtap container and volume
// replaced, never doubled; nothing of other webhooks is removed.
func Mutate(in Input) (Result, error) {
	cfg, pod := in.Config, in.Pod
	if skip := skipBefore(cfg, in.Namespace, pod); skip != nil {
		return Result{Skip: skip, Invalid: injectValueInvalid(pod)}, nil
	}
	settings, invalid := Resolve(cfg, in.Namespace.Annotations, pod.Annotations)
	invalid = append(invalid, injectValueInvalid(pod)...)
	native, invalid := decideNative(cfg, clusterFor(in.Cluster, pod), settings, invalid)
	if !native {
		if skip := skipLegacy(pod); skip != nil {
			return Result{Skip: skip, Invalid: invalid}, nil
		}
	}

	out := pod.DeepCopy()
	mesh, meshed := detectMesh(in.Namespace, pod)
	sc := forMode(settings.Sidecar)
	sc.Capture.Interface = chooseInterface(settings, meshed)
	sc.Pod.Workload = workload(pod)
	tlsLibs, tlsOff := decideTLS(settings, in.Cluster, pod)
	sc.Capture.TLS = tlsSetting(tlsLibs)
	port, err := healthPort(&cfg.Sidecar, pod)
	if err != nil {
		return Result{}, err
	}
	sc.Metrics.Addr = withPort(sc.Metrics.Addr, port)
	var spool, secrets *corev1.Volume
	if sc.Sink.Type == "kafka" {
		if sc.Kafka.Spool.Dir == "" {
			sc.Kafka.Spool.Dir = SpoolMountPath
		}
		spool = spoolVolume(sc.Kafka.Spool)
		secrets = kafkaSecretsVolume(cfg.Sidecar.KafkaSecrets, &sc.Kafka)
	}
	// What the sidecar will load must be what it accepts; a failure here
	// is a bug in the webhook, and the pod is admitted without podtap.
	check := sc
	if err := check.Validate(); err != nil {
		return Result{}, fmt.Errorf("sidecar settings for the pod: %w", err)
	}

	container, err := sidecarContainer(&cfg.Sidecar, settings, sc, port, native, tlsCapabilities(tlsLibs))
	if err != nil {
		return Result{}, err
	}
	own := ownContainerName(pod)
	placeContainer(out, container, native, own)
	shareProcesses(out, tlsLibs)
	out.Spec.Volumes = withVolume(out.Spec.Volumes, SpoolVolumeName, spool)
	out.Spec.Volumes = withVolume(out.Spec.Volumes, KafkaVolumeName, secrets)
	addPullSecrets(out, cfg.Sidecar.ImagePullSecrets)

	status := Status{Version: in.Version, Container: ContainerName, Interface: sc.Capture.Interface, Native: native, TLS: strings.Join(tlsLibs, ","), TLSOff: tlsOff}
	if err := annotate(out, status); err != nil {
		return Result{}, err
	}
	return Result{Pod: out, Invalid: invalid, Status: status, Mesh: mesh}, nil
}

// clusterFor narrows what the cluster supports to the pod: native only
// when the API server, the pod's nodes and the stored pod all allow it.
func clusterFor(c Cluster, pod *corev1.Pod) Cluster {
	if ok, _ := nativeOnNodes(c.Kubelets, pod); !ok || c.RestartPolicyDropped {
		c.NativeSidecars = false
	}
	return c
}

// decideNative picks a native or a regular container: the annotation if it
// can be honoured, else the configuration, else what the cluster supports.
func decideNative(cfg *config.Webhook, cluster Cluster, s PodSettings, invalid []Invalid) (bool, []Invalid) {
	// What the nodes or the stored pod rule out, no setting can force.
	forced := cfg.Injection.NativeSidecar == config.NativeAlways && !cluster.RestartPolicyDropped && len(cluster.Kubelets) == 0
	supported := cluster.NativeSidecars || forced
	def := forced || (cfg.Injection.NativeSidecar != config.NativeNever && cluster.NativeSidecars)
	if s.Native == nil {
		return def, invalid
	}
	if *s.Native && !supported {
		// An API server without native sidecars drops restartPolicy, and
		// the sidecar would block the pod's start as an init container.
		return def, append(invalid, Invalid{
			Key:    config.AnnotationNativeSidecar,
			Value:  "true",
			Origin: s.Origins[config.AnnotationNativeSidecar],
			Reason: "the API server or the pod's nodes do not support native sidecars (Kubernetes 1.29 or newer)",
		})
	}
	return *s.Native, invalid
}

// chooseInterface captures lo under a mesh, where plaintext is, unless the
// pod itself names an interface; "auto" is decided here, where the pod's
// containers are known.
func chooseInterface(s PodSettings, meshed bool) string {
	iface := s.Sidecar.Capture.Interface
	if meshed && s.Origins[config.AnnotationInterface] != FromPod {
		iface = "lo"
	}
	if iface == "auto" {
		if meshed {
			return "lo"
		}
		return "eth0"
	}
	return iface
}

// annotate writes the status, the injected label, and the default
// container for kubectl when the pod has none.
func annotate(pod *corev1.Pod, status Status) error {
	raw, err := status.encode()
	if err != nil {
		return err
	}
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[config.LabelInjected] = "true"
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[config.AnnotationStatus] = raw
	if _, ok := pod.Annotations[DefaultContainerAnnotation]; !ok {
		if app := appContainer(pod); app != "" {
			pod.Annotations[DefaultContainerAnnotation] = app
		}
	}
	return nil
}

// appContainer is the first container that is neither podtap nor a mesh
// proxy.
func appContainer(pod *corev1.Pod) string {
	for _, c := range pod.Spec.Containers {
		if _, proxy := meshProxies[c.Name]; c.Name != ContainerName && !proxy {
			return c.Name
		}
	}
	return ""
}
