// Command etcd is etcd's own server main (go.etcd.io/etcd/server/v3/etcdmain), built here from the
// Go module at the version pinned in pyproject.toml: etcd's root module replaces its sibling modules
// with relative paths, so it cannot be `go install`ed directly.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
