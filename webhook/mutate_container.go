package webhook

import (
	"fmt"
	"net"
	"path"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/podtap/podtap/config"
)

// sidecarContainer builds the injected container. Its settings travel as
// PODTAP_* env, rendered from the same struct the sidecar loads them into.
func sidecarContainer(tmpl *config.SidecarTemplate, s PodSettings, sc config.Sidecar, port int, native bool, extraCaps []corev1.Capability) (corev1.Container, error) {
	env, err := sidecarEnv(sc, s.Resources)
	if err != nil {
		return corev1.Container{}, err
	}
	c := corev1.Container{
		Name:            ContainerName,
		Image:           s.Image,
		ImagePullPolicy: corev1.PullPolicy(tmpl.ImagePullPolicy),
		Args:            []string{"run"},
		Env:             env,
		Ports: []corev1.ContainerPort{{
			Name:          MetricsPortName,
			ContainerPort: int32(port),
			Protocol:      corev1.ProtocolTCP,
		}},
		Resources:     resourceRequirements(s.Resources),
		LivenessProbe: execProbe(config.ProbeLive),
		// The sidecar counts toward the pod's readiness: its probe leaves
		// the sink out, so a Kafka outage (the spool holds the pairs)
		// never takes the application out of its Service.
		ReadinessProbe:           execProbe(config.ProbeReady),
		SecurityContext:          securityContext(tmpl.RunAsUser, extraCaps),
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
	if sc.Sink.Type == "kafka" {
		c.VolumeMounts = []corev1.VolumeMount{{Name: SpoolVolumeName, MountPath: sc.Kafka.Spool.Dir}}
		if hasKafkaSecrets(tmpl.KafkaSecrets) {
			c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: KafkaVolumeName, MountPath: KafkaMountPath, ReadOnly: true})
		}
	}
	if native {
		c.RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
		c.StartupProbe = startupProbe()
	}
	return c, nil
}

// sidecarEnv renders the settings that differ from the sidecar's defaults,
// so the pod spec shows what is particular to it.
func sidecarEnv(sc config.Sidecar, res config.Resources) ([]corev1.EnvVar, error) {
	var env []corev1.EnvVar
	// The pod's identity, which the sidecar stamps on records.
	for _, d := range config.DownwardEnv {
		env = append(env, corev1.EnvVar{
			Name:      d.Name,
			ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: d.FieldPath}},
		})
	}
	for _, e := range config.GoRuntimeEnv(res) {
		env = append(env, corev1.EnvVar{Name: e.Name, Value: e.Value})
	}
	for _, key := range config.Changed(config.DefaultSidecar(), sc) {
		v, err := config.Value(sc, key)
		if err != nil {
			return nil, fmt.Errorf("rendering the sidecar's env: %w", err)
		}
		env = append(env, corev1.EnvVar{Name: config.EnvName(key), Value: v})
	}
	return env, nil
}

func resourceRequirements(r config.Resources) corev1.ResourceRequirements {
	var out corev1.ResourceRequirements
	set := func(list *corev1.ResourceList, name corev1.ResourceName, q *resource.Quantity) {
		if q == nil {
			return
		}
		if *list == nil {
			*list = corev1.ResourceList{}
		}
		(*list)[name] = q.DeepCopy()
	}
	set(&out.Requests, corev1.ResourceCPU, r.CPURequest)
	set(&out.Requests, corev1.ResourceMemory, r.MemoryRequest)
	set(&out.Limits, corev1.ResourceCPU, r.CPULimit)
	set(&out.Limits, corev1.ResourceMemory, r.MemoryLimit)
	return out
}

// securityContext grants NET_RAW, plus the capabilities of TLS capture
// when the pod has it, and nothing else. The container runs as root
// because an added capability reaches a non-root process only through
// file capabilities; runAsNonRoot is set false explicitly so a pod-level
// runAsNonRoot does not stop the container from starting.
func securityContext(uid int64, extra []corev1.Capability) *corev1.SecurityContext {
	return &corev1.SecurityContext{
		Capabilities: &corev1.Capabilities{
			Drop: []corev1.Capability{"ALL"},
			Add:  append([]corev1.Capability{"NET_RAW"}, extra...),
		},
		RunAsUser:                ptr.To(uid),
		RunAsNonRoot:             ptr.To(uid != 0),
		ReadOnlyRootFilesystem:   ptr.To(true),
		AllowPrivilegeEscalation: ptr.To(false),
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// spoolVolume sizes the emptyDir above the spool's bound: the spool may
// hold one segment being written and one being dropped beyond max_bytes,
// and the kubelet evicts the whole pod when an emptyDir passes its limit.
func spoolVolume(s config.Spool) *corev1.Volume {
	size := resource.NewQuantity(int64(s.MaxBytes+2*s.SegmentBytes), resource.BinarySI)
	return &corev1.Volume{
		Name:         SpoolVolumeName,
		VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: size}},
	}
}

func hasKafkaSecrets(s config.KafkaSecrets) bool { return s.TLS != "" || s.SASL != "" }

// kafkaSecretsVolume projects the namespace's own Kafka Secrets into the
// sidecar and points its settings at the files; nil when none are named.
// Each source is optional: a missing Secret or key never stops the
// kubelet from starting the pod, and the sidecar names the file it lacks.
// The sidecar reads the SASL files at every authentication, so the
// kubelet's refresh of a rotated Secret reaches it without a restart.
func kafkaSecretsVolume(s config.KafkaSecrets, k *config.Kafka) *corev1.Volume {
	if !hasKafkaSecrets(s) {
		return nil
	}
	var sources []corev1.VolumeProjection
	file := func(dir, key string, setting *string) corev1.KeyToPath {
		*setting = path.Join(KafkaMountPath, dir, key)
		return corev1.KeyToPath{Key: key, Path: path.Join(dir, key)}
	}
	if s.TLS != "" {
		items := []corev1.KeyToPath{file("tls", "ca.crt", &k.TLS.CAFile)}
		if s.TLSClientCert {
			items = append(items, file("tls", corev1.TLSCertKey, &k.TLS.CertFile), file("tls", corev1.TLSPrivateKeyKey, &k.TLS.KeyFile))
		}
		sources = append(sources, secretProjection(s.TLS, items))
	}
	if s.SASL != "" {
		sources = append(sources, secretProjection(s.SASL, []corev1.KeyToPath{
			file("sasl", corev1.BasicAuthUsernameKey, &k.SASL.UsernameFile),
			file("sasl", corev1.BasicAuthPasswordKey, &k.SASL.PasswordFile),
		}))
	}
	return &corev1.Volume{
		Name:         KafkaVolumeName,
		VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: sources}},
	}
}

func secretProjection(name string, items []corev1.KeyToPath) corev1.VolumeProjection {
	return corev1.VolumeProjection{Secret: &corev1.SecretProjection{
		LocalObjectReference: corev1.LocalObjectReference{Name: name},
		Items:                items,
		Optional:             ptr.To(true),
	}}
}

// healthPort is the configured port of the sidecar's health endpoint, or
// the next one that no other container of the pod declares: the sidecar
// shares the pod's network namespace, and a taken port would crash it.
func healthPort(tmpl *config.SidecarTemplate, pod *corev1.Pod) (int, error) {
	port, err := tmpl.HealthPort()
	if err != nil {
		return 0, err
	}
	taken := map[int]bool{}
	own := ownContainerName(pod)
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range list {
			if c.Name == own {
				continue
			}
			for _, p := range c.Ports {
				if p.Protocol == "" || p.Protocol == corev1.ProtocolTCP {
					taken[int(p.ContainerPort)] = true
				}
			}
		}
	}
	for ; port <= 65535; port++ {
		if !taken[port] {
			return port, nil
		}
	}
	return 0, fmt.Errorf("no free port for the sidecar's health endpoint from %s", tmpl.Settings.Metrics.Addr)
}

func withPort(addr string, port int) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = ""
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// workload names the pod's owner for the records, e.g. Deployment/checkout:
// a ReplicaSet carrying the pod's template hash belongs to a Deployment of
// the name before the hash.
func workload(pod *corev1.Pod) string {
	ref := metav1.GetControllerOf(pod)
	if ref == nil {
		return ""
	}
	if ref.Kind == "ReplicaSet" && groupOf(ref.APIVersion) == "apps" {
		if hash := pod.Labels["pod-template-hash"]; hash != "" {
			if name, ok := strings.CutSuffix(ref.Name, "-"+hash); ok && name != "" {
				return "Deployment/" + name
			}
		}
	}
	return ref.Kind + "/" + ref.Name
}
