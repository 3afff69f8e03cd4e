// Package e2e holds podtap's end-to-end tests, which need the whole
// product and the machine: the Helm chart checked by helm and by a real
// kube-apiserver (envtest), and the README's cluster story on a real
// one-node Kubernetes that hack/local-cluster.sh starts: kubelet on
// containerd and runc, the CNI bridge, kube-proxy and CoreDNS, with images
// written by e2e/ociimage and imported into containerd. They need root,
// the Debian packages of hack/deps.sh, and KUBEBUILDER_ASSETS
// (hack/envtest-assets.sh); helm comes from hack/helm.sh and the node's
// binaries from hack/node-assets.sh. See TestWholePath.
package e2e
