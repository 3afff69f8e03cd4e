package e2e

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// Images of the test's workloads, all of them e2e/testapp; registry names
// stand for the images a user's pods would declare.
const (
	appImage    = "registry.example/shop/checkout:1.4.2"
	clientImage = "registry.example/shop/client:1.4.2"
	istioImage  = "docker.io/istio/proxyv2:1.26.0"
	kafkaImage  = "registry.example/kfake:e2e"
)

const (
	shop           = "shop"
	kafkaNamespace = "kafka"
	kafkaTopic     = "podtap.e2e"
	kafkaPort      = 9092
	// brokers is the Kafka Service's DNS name, as the sidecars reach it.
	brokers = "kafka.kafka:9092"
)

func deployment(namespace, name string, annotations map[string]string, spec corev1.PodSpec) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: annotations},
				Spec:       spec,
			},
		},
	}
}

func service(namespace, name string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": name}, Ports: ports},
	}
}

// kafkaDeployment is the broker, listening on and advertising its pod's
// address.
func kafkaDeployment() *appsv1.Deployment {
	return deployment(kafkaNamespace, "kafka", nil, corev1.PodSpec{Containers: []corev1.Container{{
		Name:  "kafka",
		Image: kafkaImage,
		Args:  []string{"kafka", "--listen=$(POD_IP):9092", "--topics=" + kafkaTopic},
		Env:   []corev1.EnvVar{{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}}},
		Ports: []corev1.ContainerPort{{Name: "kafka", ContainerPort: kafkaPort}},
		ReadinessProbe: &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("kafka")}},
			PeriodSeconds: 1,
		},
	}}})
}

// checkoutDeployment is the workload: HTTP/JSON on 8080 and gRPC with
// reflection on 9000. meshed adds an istio-proxy-like container that
// terminates TLS and relays to the application on the pod's loopback, and
// the status annotation Istio's injector writes.
func checkoutDeployment(name string, meshed bool) *appsv1.Deployment {
	app := corev1.Container{
		Name:  "checkout",
		Image: appImage,
		Args:  []string{"serve", "--http=:8080", "--grpc=:9000"},
		Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}, {Name: "grpc", ContainerPort: 9000}},
		ReadinessProbe: &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}},
			PeriodSeconds: 2,
		},
	}
	spec := corev1.PodSpec{Containers: []corev1.Container{app}}
	var annotations map[string]string
	if meshed {
		annotations = map[string]string{"sidecar.istio.io/status": `{"containers":["istio-proxy"],"volumes":["istio-certs"]}`}
		spec.Containers = append(spec.Containers, corev1.Container{
			Name:  "istio-proxy",
			Image: istioImage,
			Args: []string{"proxy", "--cert=/etc/istio/certs", "--alpn=h2,http/1.1",
				"--listen=:15006=127.0.0.1:8080", "--listen=:15007=127.0.0.1:9000"},
			Ports:        []corev1.ContainerPort{{Name: "https", ContainerPort: 15006}, {Name: "grpcs", ContainerPort: 15007}},
			VolumeMounts: []corev1.VolumeMount{{Name: "istio-certs", MountPath: "/etc/istio/certs", ReadOnly: true}},
			// As istio-proxy's own readiness probe does, the pod is Ready only
			// once the proxy listens; without it the test raced the proxy's start.
			ReadinessProbe: &corev1.Probe{
				ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("https")}},
				PeriodSeconds: 1,
			},
		})
		spec.Volumes = []corev1.Volume{{Name: "istio-certs", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "istio-certs"}}}}
	}
	return deployment(shop, name, annotations, spec)
}

// clientDeployment calls checkout by its Service's name, once a second.
func clientDeployment() *appsv1.Deployment {
	return deployment(shop, "client", nil, corev1.PodSpec{Containers: []corev1.Container{{
		Name:  "client",
		Image: clientImage,
		Args:  []string{"client", "--http=http://checkout." + shop, "--grpc=checkout." + shop + ":9000"},
	}}})
}
