// Command netcheck is the network probe in the local cluster's test image (tests/cluster): it serves
// HTTP, fetches URLs, opens TCP connections and sends DNS queries, and says by its exit status how a
// connection ended, so a test can tell "denied" (refused or timed out) from "passed".
//
//	netcheck serve [-http :8080]            answer GET / with "netcheck <hostname>", log one line a request
//	netcheck get [-timeout 3s] URL          print the body; 0 for a 2xx answer
//	netcheck connect [-timeout 3s] HOST:PORT
//	netcheck scan [-timeout 3s] HOST:PORT...
//	                                        connect to each target in turn (all at once would let one slow
//	                                        denial delay the others' deadlines); one line per target,
//	                                        "<outcome> HOST:PORT <detail>"; exit 0 once all were tried
//	netcheck dns [-timeout 3s] [-server IP] NAME
//	                                        one A query for NAME (taken as fully qualified) to the first
//	                                        nameserver of /etc/resolv.conf; prints the rcode and the answers
//	netcheck self                           print, as JSON, who the process runs as (ids, capabilities,
//	                                        no_new_privs, seccomp mode), whether / and /tmp are writable,
//	                                        and the nameservers and search path of /etc/resolv.conf
//	netcheck write FILE TEXT                write TEXT to FILE (a volume's, since / is read-only)
//	netcheck read FILE                      print FILE
//	netcheck sleep                          wait for SIGTERM
//
// Exit status: 0 ok, 1 usage or other error, 2 timed out, 3 refused or unreachable, 4 name not resolved
// (a DNS rcode other than NOERROR, or no answer), 5 HTTP status not 2xx. The last line printed starts
// with the outcome: "ok", "timeout", "refused", "noname", "http-status" or "error".
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

const (
	exitOK         = 0
	exitError      = 1
	exitTimeout    = 2
	exitRefused    = 3
	exitNoName     = 4
	exitHTTPStatus = 5
)

var outcomeWords = map[int]string{
	exitOK: "ok", exitError: "error", exitTimeout: "timeout", exitRefused: "refused",
	exitNoName: "noname", exitHTTPStatus: "http-status",
}

func finish(code int, format string, args ...any) {
	fmt.Printf("%s: %s\n", outcomeWords[code], fmt.Sprintf(format, args...))
	os.Exit(code)
}

// classify maps a network error to an exit status.
func classify(err error) int {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		if dnsErr.IsTimeout {
			return exitTimeout
		}
		return exitNoName
	}
	var netErr net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		(errors.As(err, &netErr) && netErr.Timeout()) {
		return exitTimeout
	}
	for _, errno := range []syscall.Errno{syscall.ECONNREFUSED, syscall.EHOSTUNREACH, syscall.ENETUNREACH,
		syscall.ECONNRESET, syscall.EPERM} {
		if errors.Is(err, errno) {
			return exitRefused
		}
	}
	return exitError
}

func serve(args []string) {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	addr := fs.String("http", ":8080", "listen address")
	_ = fs.Parse(args)
	host, _ := os.Hostname()
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		log.Printf("netcheck: %s %s from %s", r.Method, r.URL.Path, r.RemoteAddr)
		_, _ = fmt.Fprintf(w, "netcheck %s\n", host)
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("netcheck: %v", err)
	}
	log.Printf("netcheck: serving HTTP on %s as %s", ln.Addr(), host)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
		<-stop
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("netcheck: %v", err)
	}
}

func get(args []string) {
	fs := flag.NewFlagSet("get", flag.ExitOnError)
	timeout := fs.Duration("timeout", 3*time.Second, "overall timeout")
	_ = fs.Parse(args)
	if fs.NArg() != 1 {
		finish(exitError, "usage: netcheck get [-timeout D] URL")
	}
	client := &http.Client{Timeout: *timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(fs.Arg(0))
	if err != nil {
		finish(classify(err), "GET %s: %v", fs.Arg(0), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		finish(classify(err), "GET %s: reading the body: %v", fs.Arg(0), err)
	}
	fmt.Print(string(body))
	if resp.StatusCode/100 != 2 {
		finish(exitHTTPStatus, "GET %s: HTTP %d", fs.Arg(0), resp.StatusCode)
	}
	finish(exitOK, "GET %s: HTTP %d", fs.Arg(0), resp.StatusCode)
}

func connect(args []string) {
	fs := flag.NewFlagSet("connect", flag.ExitOnError)
	timeout := fs.Duration("timeout", 3*time.Second, "connect timeout")
	_ = fs.Parse(args)
	if fs.NArg() != 1 {
		finish(exitError, "usage: netcheck connect [-timeout D] HOST:PORT")
	}
	conn, err := net.DialTimeout("tcp", fs.Arg(0), *timeout)
	if err != nil {
		finish(classify(err), "connect %s: %v", fs.Arg(0), err)
	}
	_ = conn.Close()
	finish(exitOK, "connected to %s", fs.Arg(0))
}

func scan(args []string) {
	fs := flag.NewFlagSet("scan", flag.ExitOnError)
	timeout := fs.Duration("timeout", 3*time.Second, "connect timeout of each target")
	_ = fs.Parse(args)
	if fs.NArg() == 0 {
		finish(exitError, "usage: netcheck scan [-timeout D] HOST:PORT...")
	}
	for _, target := range fs.Args() {
		conn, err := net.DialTimeout("tcp", target, *timeout)
		if err != nil {
			fmt.Printf("%s %s %v\n", outcomeWords[classify(err)], target, err)
			continue
		}
		_ = conn.Close()
		fmt.Printf("ok %s connected\n", target)
	}
}

var rcodeNames = map[uint16]string{0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}

func firstNameserver() (string, error) {
	data, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) >= 2 && fields[0] == "nameserver" {
			return fields[1], nil
		}
	}
	return "", errors.New("no nameserver in /etc/resolv.conf")
}

// dnsQuery builds one recursion-desired A query for name.
func dnsQuery(id uint16, name string) ([]byte, error) {
	msg := binary.BigEndian.AppendUint16(nil, id)
	msg = append(msg, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0) // RD; 1 question
	for _, label := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		if label == "" || len(label) > 63 {
			return nil, fmt.Errorf("bad name %q", name)
		}
		msg = append(msg, byte(len(label)))
		msg = append(msg, label...)
	}
	return append(msg, 0, 0, 1, 0, 1), nil // root; type A; class IN
}

// skipName returns the offset just after the (possibly compressed) name at off.
func skipName(msg []byte, off int) (int, error) {
	for off < len(msg) {
		n := int(msg[off])
		switch {
		case n == 0:
			return off + 1, nil
		case n&0xC0 == 0xC0:
			return off + 2, nil
		default:
			off += 1 + n
		}
	}
	return 0, errors.New("truncated name")
}

func dns(args []string) {
	fs := flag.NewFlagSet("dns", flag.ExitOnError)
	timeout := fs.Duration("timeout", 3*time.Second, "query timeout")
	server := fs.String("server", "", "nameserver IP (default: the first of /etc/resolv.conf)")
	_ = fs.Parse(args)
	if fs.NArg() != 1 {
		finish(exitError, "usage: netcheck dns [-timeout D] [-server IP] NAME")
	}
	name := fs.Arg(0)
	if *server == "" {
		ns, err := firstNameserver()
		if err != nil {
			finish(exitError, "%v", err)
		}
		*server = ns
	}
	id := uint16(rand.UintN(1 << 16))
	query, err := dnsQuery(id, name)
	if err != nil {
		finish(exitError, "%v", err)
	}
	conn, err := net.DialTimeout("udp", net.JoinHostPort(*server, "53"), *timeout)
	if err != nil {
		finish(classify(err), "dns %s @%s: %v", name, *server, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(*timeout))
	if _, err := conn.Write(query); err != nil {
		finish(classify(err), "dns %s @%s: %v", name, *server, err)
	}
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		finish(classify(err), "dns %s @%s: %v", name, *server, err)
	}
	msg := buf[:n]
	if n < 12 || binary.BigEndian.Uint16(msg) != id {
		finish(exitError, "dns %s @%s: malformed answer", name, *server)
	}
	rcode := binary.BigEndian.Uint16(msg[2:]) & 0x000F
	rname := rcodeNames[rcode]
	if rname == "" {
		rname = fmt.Sprintf("RCODE%d", rcode)
	}
	qd, an := int(binary.BigEndian.Uint16(msg[4:])), int(binary.BigEndian.Uint16(msg[6:]))
	off := 12
	for range qd {
		if off, err = skipName(msg, off); err != nil {
			finish(exitError, "dns %s: %v", name, err)
		}
		off += 4
	}
	var addrs []string
	for range an {
		if off, err = skipName(msg, off); err != nil || off+10 > len(msg) {
			finish(exitError, "dns %s: truncated answer", name)
		}
		rtype, rdlen := binary.BigEndian.Uint16(msg[off:]), int(binary.BigEndian.Uint16(msg[off+8:]))
		off += 10
		if off+rdlen > len(msg) {
			finish(exitError, "dns %s: truncated answer", name)
		}
		if rtype == 1 && rdlen == 4 {
			addrs = append(addrs, net.IP(msg[off:off+4]).String())
		}
		off += rdlen
	}
	summary := fmt.Sprintf("dns %s @%s: rcode=%s answers=%s", name, *server, rname, strings.Join(addrs, ","))
	if rcode != 0 || len(addrs) == 0 {
		finish(exitNoName, "%s", summary)
	}
	finish(exitOK, "%s", summary)
}

// self reports the process's identity as the kernel sees it (/proc/self/status) and what it may write.
func self() {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		finish(exitError, "%v", err)
	}
	report := map[string]any{}
	for _, line := range strings.Split(string(status), "\n") {
		key, value, ok := strings.Cut(line, ":")
		switch key {
		case "Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp":
			if ok {
				report[key] = strings.Join(strings.Fields(value), " ")
			}
		}
	}
	writable := map[string]string{}
	for _, dir := range []string{"/", "/tmp"} {
		f, err := os.CreateTemp(dir, "netcheck-write-")
		if err != nil {
			writable[dir] = err.Error()
			continue
		}
		writable[dir] = "writable"
		_ = f.Close()
		_ = os.Remove(f.Name())
	}
	report["write"] = writable
	resolv := map[string][]string{"nameserver": {}, "search": {}, "options": {}}
	if data, err := os.ReadFile("/etc/resolv.conf"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			fields := strings.Fields(line)
			if len(fields) >= 2 {
				if _, known := resolv[fields[0]]; known {
					resolv[fields[0]] = append(resolv[fields[0]], fields[1:]...)
				}
			}
		}
	}
	report["resolv"] = resolv
	out, _ := json.Marshal(report)
	fmt.Println(string(out))
}

func main() {
	log.SetFlags(0)
	log.SetOutput(os.Stdout)
	if len(os.Args) < 2 {
		finish(exitError, "usage: netcheck serve|get|connect|scan|dns|self|write|read|sleep ...")
	}
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "serve":
		serve(args)
	case "get":
		get(args)
	case "connect":
		connect(args)
	case "scan":
		scan(args)
	case "dns":
		dns(args)
	case "self":
		self()
	case "write":
		if len(args) != 2 {
			finish(exitError, "usage: netcheck write FILE TEXT")
		}
		if err := os.WriteFile(args[0], []byte(args[1]), 0o644); err != nil {
			finish(exitError, "%v", err)
		}
		finish(exitOK, "wrote %d bytes to %s", len(args[1]), args[0])
	case "read":
		if len(args) != 1 {
			finish(exitError, "usage: netcheck read FILE")
		}
		data, err := os.ReadFile(args[0])
		if err != nil {
			finish(exitError, "%v", err)
		}
		fmt.Println(string(data))
		finish(exitOK, "read %d bytes from %s", len(data), args[0])
	case "sleep":
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
		<-stop
	default:
		finish(exitError, "unknown command %q (serve|get|connect|scan|dns|self|write|read|sleep)", cmd)
	}
}
