// Command nsforward accepts TCP connections on a host address (normally loopback) and connects each one
// to an address inside a network namespace, copying bytes both ways. It is the only bridge between the
// host and the local cluster's network namespace (scripts/local-cluster.sh): the API server's port for
// kubectl and helm on the host.
//
//	nsforward -listen 127.0.0.1:16443 -netns /run/netns/qmtl-16443 -connect 127.0.0.1:6443
//
// The listening socket is created before anything enters the namespace, so it lives in the host's
// namespace. Each outgoing connection is dialled by a goroutine locked to an OS thread that joins the
// target namespace with setns(2) and never leaves it: the Go runtime discards a thread whose goroutine
// exits while locked, so no other goroutine ever runs in the cluster's namespace.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"
)

const cloneNewNet = 0x40000000 // CLONE_NEWNET

// dialInNetns connects to addr from inside the network namespace at nsPath.
func dialInNetns(nsPath, addr string, timeout time.Duration) (net.Conn, error) {
	type result struct {
		conn net.Conn
		err  error
	}
	done := make(chan result, 1)
	go func() {
		// Deliberately no UnlockOSThread: the thread leaves with this goroutine.
		runtime.LockOSThread()
		ns, err := os.Open(nsPath)
		if err != nil {
			done <- result{nil, err}
			return
		}
		defer ns.Close()
		if _, _, errno := syscall.RawSyscall(sysSetns, ns.Fd(), cloneNewNet, 0); errno != 0 {
			done <- result{nil, fmt.Errorf("setns %s: %w", nsPath, errno)}
			return
		}
		conn, err := net.DialTimeout("tcp", addr, timeout)
		done <- result{conn, err}
	}()
	r := <-done
	return r.conn, r.err
}

func pipe(client net.Conn, nsPath, target string) {
	defer client.Close()
	server, err := dialInNetns(nsPath, target, 10*time.Second)
	if err != nil {
		log.Printf("nsforward: %s -> %s in %s: %v", client.RemoteAddr(), target, nsPath, err)
		return
	}
	defer server.Close()
	copied := make(chan struct{}, 2)
	oneWay := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tcp, ok := dst.(*net.TCPConn); ok {
			_ = tcp.CloseWrite() // pass the half-close on; the other direction may still be talking
		}
		copied <- struct{}{}
	}
	go oneWay(server, client)
	go oneWay(client, server)
	<-copied
	<-copied
}

func main() {
	listen := flag.String("listen", "", "host address to accept on, e.g. 127.0.0.1:16443")
	nsPath := flag.String("netns", "", "network namespace file, e.g. /run/netns/qmtl-16443")
	target := flag.String("connect", "", "address to connect to inside the namespace, e.g. 127.0.0.1:6443")
	flag.Parse()
	if *listen == "" || *nsPath == "" || *target == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: nsforward -listen HOST:PORT -netns PATH -connect HOST:PORT")
		os.Exit(2)
	}
	if _, err := os.Stat(*nsPath); err != nil {
		log.Fatalf("nsforward: %v", err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("nsforward: %v", err)
	}
	log.Printf("nsforward: %s -> %s in %s", ln.Addr(), *target, *nsPath)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		_ = ln.Close()
	}()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			log.Printf("nsforward: accept: %v", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		go pipe(conn, *nsPath, *target)
	}
}
