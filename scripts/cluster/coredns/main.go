// Command coredns is CoreDNS's own main (coremain.Run) with only the plugins the local cluster's DNS
// uses (scripts/cluster/coredns.yaml's Corefile), built from the Go module at the version pinned in
// pyproject.toml. The full plugin set would compile every cloud provider's SDK into a DNS server that
// serves cluster.local and nothing else.
package main

import (
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/ready"
)

func main() {
	coremain.Run()
}
