// goetls-peer: a TLS 1.3 echo client / server on Go's standard crypto/tls,
// for tests/interop/matrix.sh.  Standard library only.
//
//	peer server -port 0 -ready FILE -cert C -key K [-naccept N] [-groups L]
//	            [-alpn L] [-client-ca CA] [-close-first]
//	peer client -port P -ca CA -name NAME [-groups L] [-alpn L]
//	            [-cert C -key K] [-message S] [-resume]
//
// Prints "key: value" lines (role-prefixed by connection number) to stdout:
// protocol, suite, resumed, alpn, peer-authenticated, server-name (server),
// echo, close-notify (received: the peer's close_notify ended the stream;
// none: the TCP connection ended without one).  -close-first: the server
// echoes the first data, then sends close_notify first.  Exit 0 only if
// every connection handshook and (client) got its message echoed back.
// Limits of Go 1.19 crypto/tls: TLS 1.3 suites cannot be configured, no
// 0-RTT, no API to send a KeyUpdate (received ones are handled).
package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

var suiteNames = map[uint16]string{
	tls.TLS_AES_128_GCM_SHA256:       "TLS_AES_128_GCM_SHA256",
	tls.TLS_AES_256_GCM_SHA384:       "TLS_AES_256_GCM_SHA384",
	tls.TLS_CHACHA20_POLY1305_SHA256: "TLS_CHACHA20_POLY1305_SHA256",
}

func die(f string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "go-peer: "+f+"\n", a...)
	os.Exit(1)
}

func groups(l string) []tls.CurveID {
	var out []tls.CurveID
	for _, g := range strings.Split(l, ",") {
		switch g {
		case "":
		case "x25519":
			out = append(out, tls.X25519)
		case "secp256r1":
			out = append(out, tls.CurveP256)
		case "secp384r1":
			out = append(out, tls.CurveP384)
		default:
			die("unknown group %q", g)
		}
	}
	return out
}

func pool(file string) *x509.CertPool {
	pem, err := os.ReadFile(file)
	if err != nil {
		die("%v", err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(pem) {
		die("%s: no certificates", file)
	}
	return p
}

// eofConn records whether the TCP stream itself ended: crypto/tls returns
// io.EOF both for a close_notify and for a bare TCP EOF, but only the latter
// reaches the socket's EOF first.
type eofConn struct {
	net.Conn
	eof bool
}

func (e *eofConn) Read(p []byte) (int, error) {
	n, err := e.Conn.Read(p)
	if err == io.EOF {
		e.eof = true
	}
	return n, err
}

func closeNotify(n int, e *eofConn) {
	fmt.Printf("%d close-notify: %s\n", n, map[bool]string{true: "none", false: "received"}[e.eof])
}

func report(n int, st tls.ConnectionState) {
	v := "other"
	if st.Version == tls.VersionTLS13 {
		v = "TLSv1.3"
	}
	alpn := st.NegotiatedProtocol
	if alpn == "" {
		alpn = "none"
	}
	fmt.Printf("%d protocol: %s\n", n, v)
	fmt.Printf("%d suite: %s\n", n, suiteNames[st.CipherSuite])
	fmt.Printf("%d resumed: %v\n", n, map[bool]string{true: "yes", false: "no"}[st.DidResume])
	fmt.Printf("%d alpn: %s\n", n, alpn)
	fmt.Printf("%d peer-authenticated: %s\n", n, map[bool]string{true: "yes", false: "no"}[len(st.VerifiedChains) > 0])
}

func main() {
	if len(os.Args) < 2 {
		die("usage: peer client|server [options]")
	}
	role := os.Args[1]
	fs := flag.NewFlagSet(role, flag.ExitOnError)
	port := fs.Int("port", 0, "port")
	ready := fs.String("ready", "", "server: write the port here when listening")
	cert := fs.String("cert", "", "certificate chain (PEM)")
	key := fs.String("key", "", "private key (PEM)")
	ca := fs.String("ca", "", "client: trust anchors")
	clientCA := fs.String("client-ca", "", "server: require a client certificate from this CA")
	name := fs.String("name", "localhost", "client: server name")
	grp := fs.String("groups", "", "groups, e.g. x25519,secp384r1")
	alpn := fs.String("alpn", "", "ALPN protocols, comma separated")
	naccept := fs.Int("naccept", 1, "server: connections to serve")
	message := fs.String("message", "hello from go\n", "client: data to send")
	resume := fs.Bool("resume", false, "client: connect twice, the second time resuming")
	timeout := fs.Int("timeout", 8, "seconds per connection")
	closeFirst := fs.Bool("close-first", false, "server: close_notify first after echoing the first data")
	fs.Parse(os.Args[2:])

	cfg := &tls.Config{MinVersion: tls.VersionTLS13, MaxVersion: tls.VersionTLS13,
		CurvePreferences: groups(*grp)}
	if *alpn != "" {
		cfg.NextProtos = strings.Split(*alpn, ",")
	}
	if *cert != "" {
		kp, err := tls.LoadX509KeyPair(*cert, *key)
		if err != nil {
			die("%v", err)
		}
		cfg.Certificates = []tls.Certificate{kp}
	}
	dl := time.Duration(*timeout) * time.Second

	switch role {
	case "server":
		if *clientCA != "" {
			cfg.ClientCAs = pool(*clientCA)
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(*port))
		if err != nil {
			die("%v", err)
		}
		p := ln.Addr().(*net.TCPAddr).Port
		if *ready != "" {
			os.WriteFile(*ready+".tmp", []byte(strconv.Itoa(p)+"\n"), 0o644)
			os.Rename(*ready+".tmp", *ready)
		}
		fails := 0
		for i := 1; i <= *naccept; i++ {
			raw, err := ln.Accept()
			if err != nil {
				die("%v", err)
			}
			raw.SetDeadline(time.Now().Add(dl))
			ec := &eofConn{Conn: raw}
			c := tls.Server(ec, cfg)
			if err := c.Handshake(); err != nil {
				fmt.Fprintf(os.Stderr, "go-peer: connection %d: handshake: %v\n", i, err)
				fails++
				raw.Close()
				continue
			}
			report(i, c.ConnectionState())
			fmt.Printf("%d server-name: %s\n", i, c.ConnectionState().ServerName)
			var n int64
			if *closeFirst {
				buf := make([]byte, 16384)
				k, err := c.Read(buf)
				if err == nil {
					_, err = c.Write(buf[:k])
				}
				if err == nil {
					err = c.CloseWrite()
				}
				if err == nil {
					_, err = io.Copy(io.Discard, c)
				}
				n = int64(k)
				if err != nil {
					fmt.Fprintf(os.Stderr, "go-peer: connection %d: %v\n", i, err)
					fails++
				}
			} else {
				var err error
				n, err = io.Copy(c, c) // echo until close_notify
				if err != nil {
					fmt.Fprintf(os.Stderr, "go-peer: connection %d: %v\n", i, err)
					fails++
				}
			}
			fmt.Printf("%d echoed: %d\n", i, n)
			closeNotify(i, ec)
			c.Close()
		}
		if fails > 0 {
			os.Exit(1)
		}
	case "client":
		cfg.RootCAs = pool(*ca)
		cfg.ServerName = *name
		cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
		n := 1
		if *resume {
			n = 2
		}
		for i := 1; i <= n; i++ {
			raw, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(*port)), dl)
			if err != nil {
				die("%v", err)
			}
			raw.SetDeadline(time.Now().Add(dl))
			ec := &eofConn{Conn: raw}
			c := tls.Client(ec, cfg)
			if err := c.Handshake(); err != nil {
				die("connection %d: handshake: %v", i, err)
			}
			report(i, c.ConnectionState())
			msg := []byte(*message)
			if _, err := c.Write(msg); err != nil {
				die("connection %d: write: %v", i, err)
			}
			back := make([]byte, len(msg))
			if _, err := io.ReadFull(c, back); err != nil {
				die("connection %d: read: %v", i, err)
			}
			if !bytes.Equal(back, msg) {
				die("connection %d: echo mismatch", i)
			}
			fmt.Printf("%d echo: ok\n", i)
			// The ticket arrives after the handshake; a read with a short
			// deadline lets crypto/tls process it before we close.
			if *resume && i == 1 {
				raw.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
				c.Read(make([]byte, 1))
				raw.SetDeadline(time.Now().Add(dl))
			}
			c.CloseWrite()
			// Wait for the server's close_notify.
			if _, err := io.Copy(io.Discard, c); err != nil {
				die("connection %d: waiting for close_notify: %v", i, err)
			}
			closeNotify(i, ec)
			c.Close()
		}
	default:
		die("unknown role %q", role)
	}
}
