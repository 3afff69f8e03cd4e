#!/usr/bin/env bash
# A one-node Kubernetes on this Debian machine, from upstream parts: etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler, kubelet on
# containerd and runc, kube-proxy (iptables) and CoreDNS, at the versions
# hack/envtest-assets.sh and hack/node-assets.sh build. Run as root.
#
#   hack/local-cluster.sh up      # prints the kubeconfig's path
#   export KUBECONFIG=/var/lib/podtap-cluster/kubeconfig
#   hack/local-cluster.sh load IMAGE.tar...   # import image tarballs
#   hack/local-cluster.sh down
#
# The node lives in a network namespace of its own, so that its bridge,
# routes and kube-proxy's rules stay off the host: the host reaches it, the
# API server and the pods over one veth pair (a route to the pod network),
# and nothing is forwarded beyond it. No registry is reachable: the pause
# and CoreDNS images are built here (e2e/ociimage) and imported; other
# images are imported with `load`.
#
# Settings (environment):
#   PODTAP_CLUSTER_NAME   netns, directories (default podtap-cluster)
#   PODTAP_CLUSTER_INDEX  0-200: picks the ranges 10.244.I.0/24 (pods),
#                         10.96.I.0/24 (Services), 10.245.I.0/30 (the veth)
#                         so that two clusters can run side by side (default 0)
# Needs: containerd, runc, containernetworking-plugins, iptables, openssl,
# iproute2 (hack/deps.sh installs them), and go.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
NAME="${PODTAP_CLUSTER_NAME:-podtap-cluster}"
INDEX="${PODTAP_CLUSTER_INDEX:-0}"
[[ "${INDEX}" =~ ^[0-9]+$ && "${INDEX}" -le 200 ]] || { echo "local-cluster: PODTAP_CLUSTER_INDEX=${INDEX}: want 0-200" >&2; exit 2; }
DATA="/var/lib/${NAME}"
RUN="/run/${NAME}"
NETNS="${NAME}"
NODE="${NAME}-node"
POD_CIDR="10.244.${INDEX}.0/24"
SVC_CIDR="10.96.${INDEX}.0/24"
API_SVC_IP="10.96.${INDEX}.1"
DNS_IP="10.96.${INDEX}.10"
HOST_IP="10.245.${INDEX}.1"
NODE_IP="10.245.${INDEX}.2"
HOST_VETH="ptc${INDEX}"
PAUSE_IMAGE="registry.k8s.io/pause:3.10"
KUBE_VERSION="${PODTAP_ENVTEST_KUBE_VERSION:-1.37.2}"
COREDNS_VERSION="${PODTAP_COREDNS_VERSION:-1.15.0}"
COREDNS_IMAGE="registry.k8s.io/coredns/coredns:v${COREDNS_VERSION}"
KUBECONFIG_FILE="${DATA}/kubeconfig"

log() { printf 'local-cluster: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

in_node() { nsenter --net="/run/netns/${NETNS}" -- "$@"; }

# start NAME CMD...: runs CMD in the node's network namespace, logs to
# ${DATA}/logs/NAME.log, records its pid.
start() {
	local name="$1"
	shift
	mkdir -p "${DATA}/logs" "${RUN}/pids"
	setsid nsenter --net="/run/netns/${NETNS}" -- "$@" >"${DATA}/logs/${name}.log" 2>&1 </dev/null &
	echo $! >"${RUN}/pids/${name}"
}

# wait_for WHAT SECONDS CMD...: polls CMD until it succeeds.
wait_for() {
	local what="$1" secs="$2"
	shift 2
	local end=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		((SECONDS < end)) || die "${what} not up after ${secs}s; logs in ${DATA}/logs"
		sleep 0.5
	done
}

kubectl() { "${NODE_ASSETS}/kubectl" --kubeconfig "${KUBECONFIG_FILE}" "$@"; }

ctr_() { ctr --address "${RUN}/containerd.sock" --namespace k8s.io "$@"; }

assets() {
	export PATH="${PATH}:/usr/local/go/bin"
	ENVTEST_ASSETS="$(bash "${ROOT}/hack/envtest-assets.sh")"
	NODE_ASSETS="$(bash "${ROOT}/hack/node-assets.sh")"
	local c
	for c in containerd runc ctr iptables openssl nsenter; do
		command -v "${c}" >/dev/null || die "${c} is missing: run hack/deps.sh"
	done
	[[ -x /usr/lib/cni/bridge ]] || die "the CNI plugins are missing: run hack/deps.sh"
}

pki() {
	local d="${DATA}/pki"
	[[ -f "${d}/admin.crt" ]] && return
	mkdir -p "${d}"
	(
		cd "${d}"
		openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 365 -subj "/CN=${NAME}-ca" 2>/dev/null
		openssl genrsa -out sa.key 2048 2>/dev/null
		openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
		cat >apiserver.ext <<-EOF
			subjectAltName=IP:${NODE_IP},IP:${API_SVC_IP},IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost
			extendedKeyUsage=serverAuth
		EOF
		printf 'extendedKeyUsage=clientAuth\n' >client.ext
		local cert subj ext
		for cert in apiserver admin; do
			subj="/CN=kube-apiserver" ext=apiserver.ext
			[[ "${cert}" == admin ]] && subj="/O=system:masters/CN=admin" ext=client.ext
			openssl req -newkey rsa:2048 -nodes -keyout "${cert}.key" -out "${cert}.csr" -subj "${subj}" 2>/dev/null
			openssl x509 -req -in "${cert}.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "${cert}.crt" -days 365 -extfile "${ext}" 2>/dev/null
		done
	)
}

kubeconfig() {
	local d="${DATA}/pki"
	cat >"${KUBECONFIG_FILE}" <<-EOF
		apiVersion: v1
		kind: Config
		clusters:
		- name: ${NAME}
		  cluster:
		    server: https://${NODE_IP}:6443
		    certificate-authority-data: $(base64 -w0 <"${d}/ca.crt")
		users:
		- name: admin
		  user:
		    client-certificate-data: $(base64 -w0 <"${d}/admin.crt")
		    client-key-data: $(base64 -w0 <"${d}/admin.key")
		contexts:
		- name: ${NAME}
		  context: {cluster: ${NAME}, user: admin}
		current-context: ${NAME}
	EOF
	chmod 600 "${KUBECONFIG_FILE}"
}

network() {
	[[ -e "/run/netns/${NETNS}" ]] && return
	ip netns add "${NETNS}"
	ip link add "${HOST_VETH}" type veth peer name uplink netns "${NETNS}"
	ip addr add "${HOST_IP}/30" dev "${HOST_VETH}"
	ip link set "${HOST_VETH}" up
	ip route add "${POD_CIDR}" via "${NODE_IP}"
	ip route add "${SVC_CIDR}" via "${NODE_IP}"
	in_node ip link set lo up
	in_node ip addr add "${NODE_IP}/30" dev uplink
	in_node ip link set uplink up
	# The node's own calls to a Service (the API server's to the webhook)
	# need a route before kube-proxy's DNAT picks the pod.
	in_node ip route add "${SVC_CIDR}" dev uplink
	# The node routes between its pods, its Services and the host; the
	# host forwards nothing, so pod traffic ends here.
	in_node sysctl -qw net.ipv4.ip_forward=1
}

containerd_up() {
	mkdir -p "${DATA}/cni/net.d" "${RUN}"
	cat >"${DATA}/cni/net.d/10-${NAME}.conflist" <<-EOF
		{
		  "cniVersion": "0.4.0",
		  "name": "${NAME}",
		  "plugins": [
		    {
		      "type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
		      "ipam": {"type": "host-local", "dataDir": "${DATA}/cni/ipam", "ranges": [[{"subnet": "${POD_CIDR}"}]], "routes": [{"dst": "0.0.0.0/0"}]}
		    },
		    {"type": "portmap", "capabilities": {"portMappings": true}}
		  ]
		}
	EOF
	# restrict_oom_score_adj: a sandbox such as this one may refuse to lower
	# oom_score_adj, and runc then fails to start any container.
	cat >"${DATA}/containerd.toml" <<-EOF
		version = 2
		root = "${DATA}/containerd"
		state = "${RUN}/containerd"
		disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
		[grpc]
		  address = "${RUN}/containerd.sock"
		[ttrpc]
		  address = "${RUN}/containerd.sock.ttrpc"
		[debug]
		  address = ""
		[metrics]
		  address = ""
		[plugins."io.containerd.grpc.v1.cri"]
		  sandbox_image = "${PAUSE_IMAGE}"
		  restrict_oom_score_adj = true
		  [plugins."io.containerd.grpc.v1.cri".containerd]
		    snapshotter = "overlayfs"
		    default_runtime_name = "runc"
		    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
		      runtime_type = "io.containerd.runc.v2"
		  [plugins."io.containerd.grpc.v1.cri".cni]
		    bin_dir = "/usr/lib/cni"
		    conf_dir = "${DATA}/cni/net.d"
	EOF
	start containerd containerd --config "${DATA}/containerd.toml"
	wait_for containerd 60 ctr_ version
}

# images builds and imports the pause and CoreDNS images.
images() {
	local d="${DATA}/images"
	mkdir -p "${d}"
	(
		cd "${ROOT}"
		CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "${d}/pause" ./e2e/pause
		go build -o "${d}/ociimage" ./e2e/ociimage
	)
	"${d}/ociimage" -o "${d}/pause.tar" -tag "${PAUSE_IMAGE}" -file "${d}/pause=/pause" -entrypoint '["/pause"]' -user 65535:65535
	"${d}/ociimage" -o "${d}/coredns.tar" -tag "${COREDNS_IMAGE}" -file "${NODE_ASSETS}/coredns=/coredns" -entrypoint '["/coredns"]'
	load "${d}/pause.tar" "${d}/coredns.tar"
}

load() {
	local f
	for f in "$@"; do
		ctr_ images import "${f}" >/dev/null || die "importing ${f}"
	done
}

control_plane() {
	local p="${DATA}/pki"
	start etcd "${ENVTEST_ASSETS}/etcd" --data-dir "${DATA}/etcd" \
		--listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
		--listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
		--initial-cluster default=http://127.0.0.1:2380 --unsafe-no-fsync
	start kube-apiserver "${ENVTEST_ASSETS}/kube-apiserver" \
		--etcd-servers http://127.0.0.1:2379 \
		--bind-address "${NODE_IP}" --advertise-address "${NODE_IP}" --secure-port 6443 \
		--tls-cert-file "${p}/apiserver.crt" --tls-private-key-file "${p}/apiserver.key" \
		--client-ca-file "${p}/ca.crt" \
		--service-account-issuer https://kubernetes.default.svc.cluster.local \
		--service-account-key-file "${p}/sa.pub" --service-account-signing-key-file "${p}/sa.key" \
		--service-cluster-ip-range "${SVC_CIDR}" \
		--authorization-mode Node,RBAC --allow-privileged \
		--kubelet-client-certificate "${p}/admin.crt" --kubelet-client-key "${p}/admin.key" \
		--kubelet-preferred-address-types InternalIP \
		--cert-dir "${DATA}/apiserver"
	wait_for kube-apiserver 120 kubectl get --raw /readyz
	start kube-controller-manager "${NODE_ASSETS}/kube-controller-manager" \
		--kubeconfig "${KUBECONFIG_FILE}" --leader-elect=false \
		--bind-address 127.0.0.1 --secure-port 10257 \
		--service-account-private-key-file "${p}/sa.key" --root-ca-file "${p}/ca.crt" \
		--use-service-account-credentials=false --service-cluster-ip-range "${SVC_CIDR}"
	start kube-scheduler "${NODE_ASSETS}/kube-scheduler" \
		--kubeconfig "${KUBECONFIG_FILE}" --leader-elect=false --bind-address 127.0.0.1 --secure-port 10259
}

# cgroups makes the cluster's cgroup root in every hierarchy: a kubelet
# removes the pod cgroups it does not know under its root, which would be
# another cluster's pods if two shared /kubepods.
cgroups() {
	local h
	if [[ "$(stat -fc %T /sys/fs/cgroup)" == cgroup2fs ]]; then
		mkdir -p "/sys/fs/cgroup/${NAME}"
		tr ' ' '\n' </sys/fs/cgroup/cgroup.subtree_control | sed 's/^/+/' | xargs -r echo >"/sys/fs/cgroup/${NAME}/cgroup.subtree_control"
		return
	fi
	for h in /sys/fs/cgroup/*/; do
		mkdir -p "${h}${NAME}"
	done
	cat /sys/fs/cgroup/cpuset/cpuset.cpus >"/sys/fs/cgroup/cpuset/${NAME}/cpuset.cpus"
	cat /sys/fs/cgroup/cpuset/cpuset.mems >"/sys/fs/cgroup/cpuset/${NAME}/cpuset.mems"
}

node() {
	mkdir -p "${DATA}/kubelet"
	cgroups
	# failCgroupV1: hosts with cgroup v1, such as the CI machines.
	# resolvConf "": nothing upstream of the cluster's DNS is reachable.
	# Image GC off: the imported images cannot be pulled again.
	cat >"${DATA}/kubelet.yaml" <<-EOF
		apiVersion: kubelet.config.k8s.io/v1beta1
		kind: KubeletConfiguration
		failCgroupV1: false
		cgroupDriver: cgroupfs
		cgroupRoot: /${NAME}
		containerRuntimeEndpoint: unix://${RUN}/containerd.sock
		address: ${NODE_IP}
		readOnlyPort: 0
		healthzBindAddress: 127.0.0.1
		authentication:
		  anonymous: {enabled: false}
		  webhook: {enabled: false}
		  x509: {clientCAFile: ${DATA}/pki/ca.crt}
		authorization: {mode: AlwaysAllow}
		clusterDNS: [${DNS_IP}]
		clusterDomain: cluster.local
		resolvConf: ""
		failSwapOn: false
		podLogsDir: ${DATA}/pod-logs
		imageGCHighThresholdPercent: 100
		imageGCLowThresholdPercent: 99
		evictionHard: {memory.available: "1Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
		serializeImagePulls: false
	EOF
	start kubelet "${NODE_ASSETS}/kubelet" --config "${DATA}/kubelet.yaml" \
		--kubeconfig "${KUBECONFIG_FILE}" --hostname-override "${NODE}" --node-ip "${NODE_IP}" \
		--root-dir "${DATA}/kubelet" --cert-dir "${DATA}/kubelet/pki"
	# masqueradeAll: without br_netfilter a pod's call to a Service whose
	# endpoint is on the same bridge would get its reply from the pod's own
	# address; through the node both ways it is translated back.
	cat >"${DATA}/kube-proxy.yaml" <<-EOF
		apiVersion: kubeproxy.config.k8s.io/v1alpha1
		kind: KubeProxyConfiguration
		mode: iptables
		clientConnection: {kubeconfig: ${KUBECONFIG_FILE}}
		hostnameOverride: ${NODE}
		clusterCIDR: ${POD_CIDR}
		iptables: {masqueradeAll: true, localhostNodePorts: false}
		conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
		metricsBindAddress: 127.0.0.1:10249
		healthzBindAddress: 127.0.0.1:10256
	EOF
	start kube-proxy "${NODE_ASSETS}/kube-proxy" --config "${DATA}/kube-proxy.yaml"
	wait_for "node ${NODE}" 120 kubectl wait --for condition=Ready "node/${NODE}" --timeout 5s
}

dns() {
	kubectl apply -f - >/dev/null <<-EOF
		apiVersion: v1
		kind: ServiceAccount
		metadata: {name: coredns, namespace: kube-system}
		---
		apiVersion: rbac.authorization.k8s.io/v1
		kind: ClusterRole
		metadata: {name: "system:coredns"}
		rules:
		- apiGroups: [""]
		  resources: [endpoints, services, pods, namespaces]
		  verbs: [list, watch]
		- apiGroups: [discovery.k8s.io]
		  resources: [endpointslices]
		  verbs: [list, watch]
		---
		apiVersion: rbac.authorization.k8s.io/v1
		kind: ClusterRoleBinding
		metadata: {name: "system:coredns"}
		roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:coredns"}
		subjects: [{kind: ServiceAccount, name: coredns, namespace: kube-system}]
		---
		apiVersion: v1
		kind: ConfigMap
		metadata: {name: coredns, namespace: kube-system}
		data:
		  Corefile: |
		    .:53 {
		        errors
		        health :8080
		        ready :8181
		        kubernetes cluster.local in-addr.arpa ip6.arpa {
		            pods insecure
		            fallthrough in-addr.arpa ip6.arpa
		        }
		        cache 30
		    }
		---
		apiVersion: apps/v1
		kind: Deployment
		metadata: {name: coredns, namespace: kube-system, labels: {k8s-app: kube-dns}}
		spec:
		  replicas: 1
		  selector: {matchLabels: {k8s-app: kube-dns}}
		  template:
		    metadata: {labels: {k8s-app: kube-dns}}
		    spec:
		      serviceAccountName: coredns
		      dnsPolicy: Default
		      containers:
		      - name: coredns
		        image: ${COREDNS_IMAGE}
		        imagePullPolicy: IfNotPresent
		        args: [-conf, /etc/coredns/Corefile]
		        ports:
		        - {name: dns, containerPort: 53, protocol: UDP}
		        - {name: dns-tcp, containerPort: 53, protocol: TCP}
		        readinessProbe: {httpGet: {path: /ready, port: 8181}, periodSeconds: 2}
		        livenessProbe: {httpGet: {path: /health, port: 8080}}
		        volumeMounts: [{name: config, mountPath: /etc/coredns, readOnly: true}]
		      volumes: [{name: config, configMap: {name: coredns}}]
		---
		apiVersion: v1
		kind: Service
		metadata: {name: kube-dns, namespace: kube-system, labels: {k8s-app: kube-dns}}
		spec:
		  clusterIP: ${DNS_IP}
		  selector: {k8s-app: kube-dns}
		  ports:
		  - {name: dns, port: 53, protocol: UDP}
		  - {name: dns-tcp, port: 53, protocol: TCP}
	EOF
	wait_for CoreDNS 180 kubectl -n kube-system rollout status deployment/coredns --timeout 5s
}

up() {
	[[ "$(id -u)" -eq 0 ]] || die "run as root"
	assets
	if [[ -f "${RUN}/pids/kubelet" ]] && kill -0 "$(cat "${RUN}/pids/kubelet")" 2>/dev/null; then
		printf '%s\n' "${KUBECONFIG_FILE}"
		return
	fi
	down_quiet
	local t=${SECONDS}
	mkdir -p "${DATA}" "${RUN}"
	pki
	kubeconfig
	network
	containerd_up
	images
	control_plane
	node
	dns
	log "${NAME} up in $((SECONDS - t))s: kubectl --kubeconfig ${KUBECONFIG_FILE}"
	printf '%s\n' "${KUBECONFIG_FILE}"
}

# alive PID: the process runs; an exited one its parent has not reaped yet
# (the processes outlive the shell of `up`) does not count.
alive() { [[ -r "/proc/$1/stat" ]] && [[ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" != Z ]]; }

# stop NAME: ends the process started as NAME, and waits for it.
stop() {
	local f="${RUN}/pids/$1" pid
	[[ -f "${f}" ]] || return 0
	pid="$(cat "${f}")"
	if kill -TERM "${pid}" 2>/dev/null; then
		local end=$((SECONDS + 15))
		while alive "${pid}" && ((SECONDS < end)); do sleep 0.2; done
		kill -KILL "${pid}" 2>/dev/null || true
	fi
	rm -f "${f}"
}

down_quiet() {
	local c
	for c in kube-proxy kubelet kube-scheduler kube-controller-manager kube-apiserver etcd; do
		stop "${c}"
	done
	# The pods' containers outlive the kubelet: end them through containerd,
	# with the network namespaces their sandboxes hold.
	if [[ -S "${RUN}/containerd.sock" ]] && ctr_ version >/dev/null 2>&1; then
		local ids id
		ids="$(ctr_ containers ls -q 2>/dev/null || true)"
		for id in ${ids}; do
			ctr_ containers info "${id}" 2>/dev/null | grep -o '/var/run/netns/cni-[0-9a-f-]*' | sort -u >>"${RUN}/netns" || true
			ctr_ tasks kill -s SIGKILL "${id}" >/dev/null 2>&1 || true
		done
		for id in ${ids}; do
			ctr_ tasks delete -f "${id}" >/dev/null 2>&1 || true
			ctr_ containers delete "${id}" >/dev/null 2>&1 || true
		done
	fi
	stop containerd
	if [[ -f "${RUN}/netns" ]]; then
		local ns
		while read -r ns; do
			ip netns del "$(basename "${ns}")" 2>/dev/null || true
		done <"${RUN}/netns"
	fi
	# Volumes the kubelet mounted, and the containers' root filesystems.
	if [[ -d "${DATA}" ]]; then
		awk -v d="${DATA}/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
			umount -l "${m}" 2>/dev/null || true
		done
	fi
	awk -v d="${RUN}/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
		umount -l "${m}" 2>/dev/null || true
	done
	find /sys/fs/cgroup/ -mindepth 1 -maxdepth 2 -type d -name "${NAME}" 2>/dev/null | while read -r c; do
		find "${c}" -depth -type d -exec rmdir {} + 2>/dev/null || true
	done
	ip route del "${POD_CIDR}" 2>/dev/null || true
	ip route del "${SVC_CIDR}" 2>/dev/null || true
	ip link del "${HOST_VETH}" 2>/dev/null || true
	ip netns del "${NETNS}" 2>/dev/null || true
	rm -rf "${RUN}"
	# The node's state goes; the PKI stays, so that a kubeconfig handed out
	# keeps working across down and up.
	if [[ -d "${DATA}" ]]; then
		find "${DATA}" -mindepth 1 -maxdepth 1 ! -name pki ! -name images -exec rm -rf {} +
	fi
}

down() {
	[[ "$(id -u)" -eq 0 ]] || die "run as root"
	down_quiet
	log "${NAME} down"
}

case "${1:-}" in
up) up ;;
down) down ;;
load)
	shift
	load "$@"
	;;
*)
	echo "usage: hack/local-cluster.sh up|down|load IMAGE.tar..." >&2
	exit 2
	;;
esac
