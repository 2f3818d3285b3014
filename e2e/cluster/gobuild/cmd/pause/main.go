// The pod sandbox's process: it holds the pod's namespaces, reaps orphans
// when it is PID 1 of a shared PID namespace, and exits on SIGINT or SIGTERM,
// as Kubernetes' pause (build/pause/linux/pause.c) does. In Go so the image
// build needs no C compiler; statically linked (CGO off), so its image holds
// this one file.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range signals {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var status syscall.WaitStatus
			if pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil); pid <= 0 || err != nil {
				break
			}
		}
	}
}
