// Command pause is the sandbox image of the local cluster's pods: it holds
// the pod's namespaces and waits for the signal that ends the pod, as
// registry.k8s.io/pause does, which cannot be pulled here.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}
