package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/podtap/podtap/internal/netns"
)

// kubelet plays the node agent for the pods the test schedules to its
// node: it binds them, reports their addresses in their status, makes
// their volumes, and starts each container from the pod spec the API
// server stored, through the runtime of runtime_test.go. It knows the
// images the test uses by reference.
type kubelet struct {
	cp     *controlPlane
	node   *node
	images map[string]image
	// apiHost and apiPort are where the kubernetes Service points, for the
	// KUBERNETES_SERVICE_* env and in-cluster clients.
	apiHost, apiPort string
}

func newKubelet(t *testing.T, cp *controlPlane, n *node, images map[string]image) *kubelet {
	u, err := url.Parse(cp.rest.Host)
	if err != nil {
		t.Fatal(err)
	}
	return &kubelet{cp: cp, node: n, images: images, apiHost: u.Hostname(), apiPort: u.Port()}
}

// runningPod is a pod the kubelet started.
type runningPod struct {
	pod        *corev1.Pod
	ns         netns.NS
	ip         string
	containers []*runningContainer
	stopped    bool
}

type runningContainer struct {
	name string
	// image and env run the container's exec probes.
	image image
	env   []string
	cmd   *exec.Cmd
	log   *lockedBuffer
	done  chan struct{}
	err   error
}

// run schedules the pod to the node and starts its containers: native
// sidecars first, in order, then the containers. They are stopped when
// the test ends, the containers before the sidecars.
func (k *kubelet) run(t *testing.T, pod *corev1.Pod) *runningPod {
	t.Helper()
	ctx := context.Background()
	pods := k.cp.cs.CoreV1().Pods(pod.Namespace)
	err := pods.Bind(ctx, &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace},
		Target:     corev1.ObjectReference{Kind: "Node", Name: nodeName},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("binding pod %s: %v", pod.Name, err)
	}
	ns, ip := k.node.addPod(t)
	stored, err := pods.Get(ctx, pod.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stored.Status.Phase = corev1.PodRunning
	stored.Status.HostIP, stored.Status.HostIPs = k.node.ip, []corev1.HostIP{{IP: k.node.ip}}
	stored.Status.PodIP, stored.Status.PodIPs = ip, []corev1.PodIP{{IP: ip}}
	stored.Status.StartTime = ptr.To(metav1.Now())
	if stored, err = pods.UpdateStatus(ctx, stored, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("reporting pod %s's addresses: %v", pod.Name, err)
	}

	rp := &runningPod{pod: stored, ns: ns, ip: ip}
	dir := t.TempDir()
	volumes := k.volumes(t, stored, filepath.Join(dir, "volumes"))
	t.Cleanup(func() { rp.stop(t) })
	for _, c := range stored.Spec.InitContainers {
		if c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
			t.Fatalf("pod %s: init container %s runs to completion, which this kubelet does not do", pod.Name, c.Name)
		}
		rp.containers = append(rp.containers, k.start(t, rp, c, volumes, filepath.Join(dir, c.Name)))
		// As the kubelet does, the next containers wait for a native
		// sidecar's startup probe.
		if c.StartupProbe != nil {
			rp.waitStarted(t, c, time.Minute)
		}
	}
	for _, c := range stored.Spec.Containers {
		rp.containers = append(rp.containers, k.start(t, rp, c, volumes, filepath.Join(dir, c.Name)))
	}
	return rp
}

// apiServiceAccountPath is where the ServiceAccount admission plugin
// mounts the token; envtest runs without the plugin, so the kubelet adds
// the mount itself for a pod that asks for a token.
const apiServiceAccountPath = "/var/run/secrets/kubernetes.io/serviceaccount"

// volumes makes every volume of the pod as a directory under dir.
func (k *kubelet) volumes(t *testing.T, pod *corev1.Pod, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, v := range pod.Spec.Volumes {
		path := filepath.Join(dir, v.Name)
		mkdir(t, path, 0o755)
		switch {
		case v.EmptyDir != nil:
			// The kubelet makes emptyDirs world-writable.
			if err := os.Chmod(path, 0o777); err != nil {
				t.Fatal(err)
			}
		case v.ConfigMap != nil:
			data, ok := k.configMap(t, pod.Namespace, v.ConfigMap.Name)
			k.project(t, path, data, ok, v.ConfigMap.Items, v.ConfigMap.Optional, "configMap "+v.ConfigMap.Name)
		case v.Secret != nil:
			data, ok := k.secret(t, pod.Namespace, v.Secret.SecretName)
			k.project(t, path, data, ok, v.Secret.Items, v.Secret.Optional, "Secret "+v.Secret.SecretName)
		case v.Projected != nil:
			for _, s := range v.Projected.Sources {
				switch {
				case s.Secret != nil:
					data, ok := k.secret(t, pod.Namespace, s.Secret.Name)
					k.project(t, path, data, ok, s.Secret.Items, s.Secret.Optional, "Secret "+s.Secret.Name)
				case s.ConfigMap != nil:
					data, ok := k.configMap(t, pod.Namespace, s.ConfigMap.Name)
					k.project(t, path, data, ok, s.ConfigMap.Items, s.ConfigMap.Optional, "configMap "+s.ConfigMap.Name)
				default:
					t.Fatalf("pod %s: projected volume %s: only secret and configMap sources are supported", pod.Name, v.Name)
				}
			}
		default:
			t.Fatalf("pod %s: volume %s: only emptyDir, configMap, secret and projected volumes are supported", pod.Name, v.Name)
		}
		out[v.Name] = path
	}
	if ptr.Deref(pod.Spec.AutomountServiceAccountToken, false) {
		path := filepath.Join(dir, "kube-api-access")
		mkdir(t, path, 0o755)
		tr, err := k.cp.cs.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(context.Background(), pod.Spec.ServiceAccountName,
			&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
				ExpirationSeconds: ptr.To(int64(3600)),
				BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
			}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("pod %s: a token for ServiceAccount %s: %v", pod.Name, pod.Spec.ServiceAccountName, err)
		}
		writeFile(t, filepath.Join(path, "token"), []byte(tr.Status.Token), 0o644)
		writeFile(t, filepath.Join(path, "ca.crt"), k.cp.rest.CAData, 0o644)
		writeFile(t, filepath.Join(path, "namespace"), []byte(pod.Namespace), 0o644)
		out["kube-api-access"] = path
	}
	return out
}

func (k *kubelet) configMap(t *testing.T, ns, name string) (map[string][]byte, bool) {
	cm, err := k.cp.cs.CoreV1().ConfigMaps(ns).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for key, v := range cm.Data {
		out[key] = []byte(v)
	}
	return out, true
}

func (k *kubelet) secret(t *testing.T, ns, name string) (map[string][]byte, bool) {
	s, err := k.cp.cs.CoreV1().Secrets(ns).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return s.Data, true
}

// project writes a configMap's or Secret's keys as files, the chosen items
// or all of them; a missing object or key is an error unless optional.
func (k *kubelet) project(t *testing.T, dir string, data map[string][]byte, found bool, items []corev1.KeyToPath, optional *bool, what string) {
	t.Helper()
	opt := ptr.Deref(optional, false)
	if !found {
		if !opt {
			t.Fatalf("%s is missing and not optional: the kubelet would not start the pod", what)
		}
		return
	}
	if len(items) == 0 {
		for key := range data {
			items = append(items, corev1.KeyToPath{Key: key, Path: key})
		}
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if !opt {
				t.Fatalf("%s has no key %s and is not optional", what, it.Key)
			}
			continue
		}
		file := filepath.Join(dir, it.Path)
		mkdir(t, filepath.Dir(file), 0o755)
		writeFile(t, file, v, 0o644)
	}
}

// defaultCaps are the capabilities containerd gives a container before
// its securityContext drops or adds any.
var defaultCaps = []string{"CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
	"SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE"}

var capNumbers = map[string]int{"CHOWN": 0, "DAC_OVERRIDE": 1, "FOWNER": 3, "FSETID": 4, "KILL": 5, "SETGID": 6,
	"SETUID": 7, "SETPCAP": 8, "NET_BIND_SERVICE": 10, "NET_RAW": 13, "SYS_CHROOT": 18, "MKNOD": 27,
	"AUDIT_WRITE": 29, "SETFCAP": 31}

// containerSpecFor resolves one container of the pod into what the
// runtime starts: the image's root filesystem with the volumes mounted,
// the command, the env, the user and the capabilities.
func (k *kubelet) containerSpecFor(t *testing.T, pod *corev1.Pod, c corev1.Container, volumes map[string]string, dir string) containerSpec {
	t.Helper()
	img, ok := k.images[c.Image]
	if !ok {
		t.Fatalf("pod %s container %s: image %s is not one the test has", pod.Name, c.Name, c.Image)
	}
	root := filepath.Join(dir, "rootfs")
	mkdir(t, filepath.Join(root, filepath.Dir(img.path)), 0o755)
	if err := os.Link(img.binary, filepath.Join(root, img.path)); err != nil {
		copyFile(t, img.binary, filepath.Join(root, img.path))
	}
	for _, d := range []string{"proc", "sys", "tmp"} {
		mkdir(t, filepath.Join(root, d), 0o755)
	}
	spec := containerSpec{Root: root}
	mounts := c.VolumeMounts
	if _, ok := volumes["kube-api-access"]; ok {
		mounts = append(mounts, corev1.VolumeMount{Name: "kube-api-access", MountPath: apiServiceAccountPath, ReadOnly: true})
	}
	for _, m := range mounts {
		src, ok := volumes[m.Name]
		if !ok || m.SubPath != "" || m.SubPathExpr != "" {
			t.Fatalf("pod %s container %s: mount %s: no such volume, or a subPath", pod.Name, c.Name, m.Name)
		}
		mkdir(t, filepath.Join(root, m.MountPath), 0o755)
		spec.Mounts = append(spec.Mounts, mountSpec{Source: src, Target: m.MountPath, ReadOnly: m.ReadOnly})
	}

	env := k.env(t, pod, c)
	vars := map[string]string{}
	for _, kv := range env {
		name, v, _ := strings.Cut(kv, "=")
		vars[name] = v
	}
	argv := img.entrypoint
	args := img.cmd
	if len(c.Command) > 0 {
		argv, args = c.Command, nil
	}
	if len(c.Args) > 0 {
		args = c.Args
	}
	for _, a := range append(slices.Clone(argv), args...) {
		spec.Argv = append(spec.Argv, expand(a, vars))
	}
	spec.Env = env

	psc, sc := pod.Spec.SecurityContext, c.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	if sc == nil {
		sc = &corev1.SecurityContext{}
	}
	spec.UID, spec.GID = img.uid, img.gid
	if u := ptr.Deref(sc.RunAsUser, ptr.Deref(psc.RunAsUser, -1)); u >= 0 {
		spec.UID = int(u)
	}
	if g := ptr.Deref(sc.RunAsGroup, ptr.Deref(psc.RunAsGroup, -1)); g >= 0 {
		spec.GID = int(g)
	}
	if ptr.Deref(sc.RunAsNonRoot, ptr.Deref(psc.RunAsNonRoot, false)) && spec.UID == 0 {
		t.Fatalf("pod %s container %s: runAsNonRoot and the container would run as root; the kubelet refuses it", pod.Name, c.Name)
	}
	caps := slices.Clone(defaultCaps)
	if sc.Capabilities != nil {
		for _, d := range sc.Capabilities.Drop {
			if d == "ALL" {
				caps = nil
			}
			caps = slices.DeleteFunc(caps, func(s string) bool { return s == string(d) })
		}
		for _, a := range sc.Capabilities.Add {
			caps = append(caps, string(a))
		}
	}
	if spec.UID == 0 {
		// Without ambient capabilities, which Kubernetes does not set, a
		// non-root process has none in effect.
		for _, name := range caps {
			n, ok := capNumbers[name]
			if !ok {
				t.Fatalf("pod %s container %s: capability %s is not known to this kubelet", pod.Name, c.Name, name)
			}
			spec.Caps = append(spec.Caps, n)
		}
	}
	spec.NoNewPrivs = !ptr.Deref(sc.AllowPrivilegeEscalation, true)
	spec.ReadOnlyRoot = ptr.Deref(sc.ReadOnlyRootFilesystem, false)
	return spec
}

// env resolves the container's environment as the kubelet does: the
// runtime's PATH and HOSTNAME, envFrom, then env in order, with $(VAR)
// references to earlier variables and to the service links expanded and
// downward-API and Secret values filled in, then the service links not
// declared: the kubernetes Service, pointing at the API server, and, with
// enableServiceLinks, every Service of the pod's namespace.
func (k *kubelet) env(t *testing.T, pod *corev1.Pod, c corev1.Container) []string {
	t.Helper()
	var names []string
	vars := map[string]string{}
	set := func(name, v string) {
		if _, ok := vars[name]; !ok {
			names = append(names, name)
		}
		vars[name] = v
	}
	set("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	set("HOSTNAME", pod.Name)
	links := k.serviceLinks(t, pod)
	refs := func() map[string]string {
		m := maps.Clone(links)
		maps.Copy(m, vars)
		return m
	}
	for _, from := range c.EnvFrom {
		var data map[string][]byte
		var found bool
		var optional *bool
		switch {
		case from.ConfigMapRef != nil:
			data, found = k.configMap(t, pod.Namespace, from.ConfigMapRef.Name)
			optional = from.ConfigMapRef.Optional
		case from.SecretRef != nil:
			data, found = k.secret(t, pod.Namespace, from.SecretRef.Name)
			optional = from.SecretRef.Optional
		}
		if !found && !ptr.Deref(optional, false) {
			t.Fatalf("pod %s container %s: envFrom source missing and not optional", pod.Name, c.Name)
		}
		for key, v := range data {
			set(from.Prefix+key, string(v))
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			set(e.Name, expand(e.Value, refs()))
			continue
		}
		switch src := e.ValueFrom; {
		case src.FieldRef != nil:
			set(e.Name, fieldValue(t, pod, src.FieldRef.FieldPath))
		case src.SecretKeyRef != nil:
			data, found := k.secret(t, pod.Namespace, src.SecretKeyRef.Name)
			if v, ok := data[src.SecretKeyRef.Key]; found && ok {
				set(e.Name, string(v))
			} else if !ptr.Deref(src.SecretKeyRef.Optional, false) {
				t.Fatalf("pod %s container %s: env %s: Secret %s key %s missing", pod.Name, c.Name, e.Name, src.SecretKeyRef.Name, src.SecretKeyRef.Key)
			}
		case src.ConfigMapKeyRef != nil:
			data, found := k.configMap(t, pod.Namespace, src.ConfigMapKeyRef.Name)
			if v, ok := data[src.ConfigMapKeyRef.Key]; found && ok {
				set(e.Name, string(v))
			} else if !ptr.Deref(src.ConfigMapKeyRef.Optional, false) {
				t.Fatalf("pod %s container %s: env %s: ConfigMap %s key %s missing", pod.Name, c.Name, e.Name, src.ConfigMapKeyRef.Name, src.ConfigMapKeyRef.Key)
			}
		default:
			t.Fatalf("pod %s container %s: env %s: only fieldRef, secretKeyRef and configMapKeyRef are supported", pod.Name, c.Name, e.Name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(links)) {
		if _, declared := vars[name]; !declared {
			set(name, links[name])
		}
	}
	out := make([]string, 0, len(names))
	for _, n := range names {
		out = append(out, n+"="+vars[n])
	}
	return out
}

// serviceLinks are the variables the kubelet derives from Services, as
// Docker links once did: NAME_SERVICE_HOST, NAME_SERVICE_PORT,
// NAME_PORT_443_TCP_ADDR...
func (k *kubelet) serviceLinks(t *testing.T, pod *corev1.Pod) map[string]string {
	t.Helper()
	links := map[string]string{"KUBERNETES_SERVICE_HOST": k.apiHost, "KUBERNETES_SERVICE_PORT": k.apiPort}
	if !ptr.Deref(pod.Spec.EnableServiceLinks, true) {
		return links
	}
	svcs, err := k.cp.cs.CoreV1().Services(pod.Namespace).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, svc := range svcs.Items {
		ip := svc.Spec.ClusterIP
		if ip == "" || ip == corev1.ClusterIPNone || len(svc.Spec.Ports) == 0 {
			continue
		}
		name := strings.ToUpper(strings.ReplaceAll(svc.Name, "-", "_"))
		first := svc.Spec.Ports[0]
		links[name+"_SERVICE_HOST"] = ip
		links[name+"_SERVICE_PORT"] = fmt.Sprint(first.Port)
		links[name+"_PORT"] = fmt.Sprintf("%s://%s", strings.ToLower(string(first.Protocol)), net.JoinHostPort(ip, fmt.Sprint(first.Port)))
		for _, p := range svc.Spec.Ports {
			if p.Name != "" {
				links[name+"_SERVICE_PORT_"+strings.ToUpper(strings.ReplaceAll(p.Name, "-", "_"))] = fmt.Sprint(p.Port)
			}
			proto := string(p.Protocol)
			prefix := fmt.Sprintf("%s_PORT_%d_%s", name, p.Port, proto)
			links[prefix] = fmt.Sprintf("%s://%s", strings.ToLower(proto), net.JoinHostPort(ip, fmt.Sprint(p.Port)))
			links[prefix+"_PROTO"] = strings.ToLower(proto)
			links[prefix+"_PORT"] = fmt.Sprint(p.Port)
			links[prefix+"_ADDR"] = ip
		}
	}
	return links
}

// fieldValue is a downward-API field of the stored pod.
func fieldValue(t *testing.T, pod *corev1.Pod, path string) string {
	t.Helper()
	switch path {
	case "metadata.name":
		return pod.Name
	case "metadata.namespace":
		return pod.Namespace
	case "metadata.uid":
		return string(pod.UID)
	case "spec.nodeName":
		return pod.Spec.NodeName
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName
	case "status.hostIP":
		return pod.Status.HostIP
	case "status.podIP":
		return pod.Status.PodIP
	case "status.podIPs":
		var ips []string
		for _, ip := range pod.Status.PodIPs {
			ips = append(ips, ip.IP)
		}
		return strings.Join(ips, ",")
	}
	for prefix, m := range map[string]map[string]string{"metadata.labels": pod.Labels, "metadata.annotations": pod.Annotations} {
		if key, ok := strings.CutPrefix(path, prefix+"['"); ok {
			return m[strings.TrimSuffix(key, "']")]
		}
	}
	t.Fatalf("pod %s: downward-API field %s is not supported", pod.Name, path)
	return ""
}

// expand replaces $(VAR) with earlier variables, as the kubelet does in
// env values, command and args: $$ escapes a $, and an unknown reference
// is left as it is.
func expand(s string, vars map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			if end := strings.IndexByte(s[i+2:], ')'); end >= 0 {
				name := s[i+2 : i+2+end]
				if v, ok := vars[name]; ok {
					b.WriteString(v)
				} else {
					b.WriteString(s[i : i+3+end])
				}
				i += 2 + end
				continue
			}
			b.WriteByte('$')
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// start starts one container in the pod's network namespace.
func (k *kubelet) start(t *testing.T, rp *runningPod, c corev1.Container, volumes map[string]string, dir string) *runningContainer {
	t.Helper()
	spec := k.containerSpecFor(t, rp.pod, c, volumes, dir)
	raw, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	specFile := filepath.Join(dir, "spec.json")
	writeFile(t, specFile, raw, 0o600)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	rc := &runningContainer{name: c.Name, image: k.images[c.Image], env: spec.Env, log: &lockedBuffer{}, done: make(chan struct{})}
	rc.cmd = rp.ns.Command(self)
	rc.cmd.Env = []string{roleEnv + "=" + roleContainer, specEnv + "=" + specFile}
	rc.cmd.Stdout, rc.cmd.Stderr = rc.log, rc.log
	if err := rc.cmd.Start(); err != nil {
		t.Fatalf("pod %s: starting container %s: %v", rp.pod.Name, c.Name, err)
	}
	go func() {
		rc.err = rc.cmd.Wait()
		close(rc.done)
	}()
	t.Logf("pod %s: started container %s: %s (uid %d, caps %v, read-only root %v)",
		rp.pod.Name, c.Name, strings.Join(spec.Argv, " "), spec.UID, spec.Caps, spec.ReadOnlyRoot)
	return rc
}

// container returns the running container of that name.
func (rp *runningPod) container(t *testing.T, name string) *runningContainer {
	t.Helper()
	for _, c := range rp.containers {
		if c.name == name {
			return c
		}
	}
	t.Fatalf("pod %s has no container %s", rp.pod.Name, name)
	return nil
}

// waitReady plays the kubelet's readiness probes of every container until
// all pass, as a Service waits for before it sends traffic.
func (rp *runningPod) waitReady(t *testing.T, timeout time.Duration) {
	t.Helper()
	all := append(slices.Clone(rp.pod.Spec.InitContainers), rp.pod.Spec.Containers...)
	deadline := time.Now().Add(timeout)
	for _, c := range all {
		if c.ReadinessProbe == nil {
			continue
		}
		rc := rp.container(t, c.Name)
		for {
			err := rp.probe(c, c.ReadinessProbe)
			if err == nil {
				break
			}
			select {
			case <-rc.done:
				t.Fatalf("pod %s: container %s exited (%v) before it was ready:\n%s", rp.pod.Name, c.Name, rc.err, rc.log)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("pod %s: container %s not ready after %s: %v\n%s", rp.pod.Name, c.Name, timeout, err, rc.log)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// waitStarted runs a container's startup probe until it passes.
func (rp *runningPod) waitStarted(t *testing.T, c corev1.Container, timeout time.Duration) {
	t.Helper()
	start := time.Now()
	for {
		err := rp.probe(c, c.StartupProbe)
		if err == nil {
			t.Logf("pod %s: container %s started after %s", rp.pod.Name, c.Name, time.Since(start).Round(time.Millisecond))
			return
		}
		if time.Since(start) > timeout {
			t.Fatalf("pod %s: container %s's startup probe still fails after %s: %v", rp.pod.Name, c.Name, timeout, err)
		}
		time.Sleep(time.Duration(c.StartupProbe.PeriodSeconds) * time.Second)
	}
}

// probe runs one httpGet or tcpSocket probe from the node, as the kubelet
// does, with the kubelet's User-Agent.
func (rp *runningPod) probe(c corev1.Container, p *corev1.Probe) error {
	port := func(ip intstr.IntOrString) (string, error) {
		if ip.Type == intstr.Int {
			return ip.String(), nil
		}
		for _, cp := range c.Ports {
			if cp.Name == ip.StrVal {
				return fmt.Sprint(cp.ContainerPort), nil
			}
		}
		return "", fmt.Errorf("no port named %s", ip.StrVal)
	}
	switch {
	case p.HTTPGet != nil:
		pt, err := port(p.HTTPGet.Port)
		if err != nil {
			return err
		}
		host := p.HTTPGet.Host
		if host == "" {
			host = rp.ip
		}
		scheme := strings.ToLower(string(p.HTTPGet.Scheme))
		if scheme == "" {
			scheme = "http"
		}
		if scheme != "http" {
			return fmt.Errorf("probe scheme %s is not supported", scheme)
		}
		req, err := newProbeRequest("http://" + net.JoinHostPort(host, pt) + p.HTTPGet.Path)
		if err != nil {
			return err
		}
		resp, err := probeClient.Do(req)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode >= 400 {
			return fmt.Errorf("GET %s: %s: %s", p.HTTPGet.Path, resp.Status, bytes.TrimSpace(body))
		}
		return nil
	case p.Exec != nil:
		return rp.execProbe(c, p.Exec.Command)
	case p.TCPSocket != nil:
		pt, err := port(p.TCPSocket.Port)
		if err != nil {
			return err
		}
		conn, err := net.DialTimeout("tcp", net.JoinHostPort(rp.ip, pt), time.Second)
		if err != nil {
			return err
		}
		return conn.Close()
	}
	return fmt.Errorf("container %s: only httpGet, tcpSocket and exec probes are supported", c.Name)
}

// execProbe runs an exec probe of the image's own binary, with the
// container's env, in the pod's network namespace: what an exec probe
// needs of the container (its binary, its settings, its loopback).
func (rp *runningPod) execProbe(c corev1.Container, command []string) error {
	var rc *runningContainer
	for _, r := range rp.containers {
		if r.name == c.Name {
			rc = r
		}
	}
	if rc == nil || len(command) == 0 || command[0] != rc.image.path {
		return fmt.Errorf("container %s: exec probe %q does not run the image's binary", c.Name, command)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", rp.ns.Name, rc.image.binary}, command[1:]...)...)
	cmd.Env = rc.env
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("exec probe %q: %w: %s", command, err, bytes.TrimSpace(out))
	}
	return nil
}

// stop sends SIGTERM to every container, the regular ones first, and waits
// for each; a container that ends before it is told to failed.
func (rp *runningPod) stop(t *testing.T) {
	if rp.stopped {
		return
	}
	rp.stopped = true
	for i := len(rp.containers) - 1; i >= 0; i-- {
		rc := rp.containers[i]
		select {
		case <-rc.done:
			t.Errorf("pod %s: container %s ended by itself: %v\n%s", rp.pod.Name, rc.name, rc.err, rc.log)
			continue
		default:
		}
		_ = rc.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-rc.done:
		case <-time.After(20 * time.Second):
			_ = rc.cmd.Process.Kill()
			<-rc.done
			t.Errorf("pod %s: container %s ignored SIGTERM for 20s:\n%s", rp.pod.Name, rc.name, rc.log)
		}
		if t.Failed() {
			t.Logf("pod %s: container %s's log:\n%s", rp.pod.Name, rc.name, rc.log)
		}
	}
}

// lockedBuffer collects a process's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func mkdir(t *testing.T, dir string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(dir, mode); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, to, b, 0o755)
}
