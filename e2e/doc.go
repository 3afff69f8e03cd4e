// Package e2e holds podtap's end-to-end tests, which need the whole
// product and the machine: the Helm chart checked by helm and by a real
// kube-apiserver (envtest), and one test of the whole path from
// `helm template` to the pairs in Kafka.
//
// No kubelet can run here, so the tests play its part: a network
// namespace per pod, and each container started from the pod spec the API
// server stored, with its command, args, env (downward API and Secrets
// resolved), volumes, user and capabilities, in a chroot of its own. They
// need root, iproute2, and KUBEBUILDER_ASSETS (hack/envtest-assets.sh);
// helm comes from hack/helm.sh. See TestWholePath.
package e2e
