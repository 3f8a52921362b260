// The local cluster's own small programs (standard library only): netcheck, the network probe in the
// real node's test image, and nsforward, which bridges a host loopback port into the cluster's network
// namespace. Built by scripts/cluster/build.sh tools.
module qmtl-stack/cluster/tools

go 1.26.0
