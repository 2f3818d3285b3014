// etcd at exactly the version k8s.io/kubernetes pins, so the server and its client agree.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
