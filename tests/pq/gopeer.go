// gopeer: a TLS 1.3 client or server on Go's crypto/tls (Go 1.24), the
// second independent peer of tests/pq/run.sh.  It prints the negotiated
// group and whether a HelloRetryRequest happened, as "group: NAME" and
// "hrr: yes|no".  Go 1.24 keeps both in unexported ConnectionState
// fields (testingOnlyCurveID, testingOnlyDidHRR), read here with reflect;
// without them it says "unknown" and the test fails.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"
)

func curves(list string) []tls.CurveID {
	var ids []tls.CurveID
	for _, n := range strings.Split(list, ",") {
		switch strings.ToLower(n) {
		case "":
		case "x25519mlkem768":
			ids = append(ids, tls.X25519MLKEM768)
		case "x25519":
			ids = append(ids, tls.X25519)
		case "secp256r1", "p256":
			ids = append(ids, tls.CurveP256)
		case "secp384r1", "p384":
			ids = append(ids, tls.CurveP384)
		default:
			fail("unknown group " + n)
		}
	}
	return ids
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "gopeer: "+msg)
	os.Exit(1)
}

func report(cs tls.ConnectionState) {
	v := reflect.ValueOf(cs)
	g, h := v.FieldByName("testingOnlyCurveID"), v.FieldByName("testingOnlyDidHRR")
	name, hrr := "unknown", "unknown"
	if g.IsValid() {
		// The TLS names kitls and OpenSSL print.
		names := map[tls.CurveID]string{tls.X25519: "x25519", tls.CurveP256: "secp256r1",
			tls.CurveP384: "secp384r1", tls.X25519MLKEM768: "X25519MLKEM768"}
		id := tls.CurveID(g.Uint())
		if name = names[id]; name == "" {
			name = id.String()
		}
	}
	if h.IsValid() {
		hrr = map[bool]string{true: "yes", false: "no"}[h.Bool()]
	}
	fmt.Printf("group: %s\nhrr: %s\n", name, hrr)
}

func main() {
	mode := flag.String("mode", "client", "client or server")
	addr := flag.String("addr", "127.0.0.1:0", "address to connect to or listen on")
	groups := flag.String("groups", "", "comma list (x25519mlkem768,x25519,p256); empty: Go's default")
	certFile := flag.String("cert", "", "server certificate (PEM)")
	keyFile := flag.String("key", "", "server key (PEM)")
	caFile := flag.String("cafile", "", "client trust anchor (PEM)")
	ready := flag.String("ready-file", "", "server: write the bound port here")
	flag.Parse()
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, CurvePreferences: curves(*groups)}
	if *mode == "server" {
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			fail(err.Error())
		}
		cfg.Certificates = []tls.Certificate{cert}
		ln, err := tls.Listen("tcp", *addr, cfg)
		if err != nil {
			fail(err.Error())
		}
		port := ln.Addr().(*net.TCPAddr).Port
		if *ready != "" {
			os.WriteFile(*ready, []byte(strconv.Itoa(port)+"\n"), 0o644)
		}
		c, err := ln.Accept()
		if err != nil {
			fail(err.Error())
		}
		tc := c.(*tls.Conn)
		tc.SetDeadline(time.Now().Add(20 * time.Second))
		if err := tc.Handshake(); err != nil {
			fail("handshake: " + err.Error())
		}
		report(tc.ConnectionState())
		tc.Write([]byte("hi\n"))
		// Read the client's line, then close: both sides end.
		buf := make([]byte, 64)
		tc.Read(buf)
		tc.Close()
		return
	}
	pem, err := os.ReadFile(*caFile)
	if err != nil {
		fail(err.Error())
	}
	cfg.RootCAs = x509.NewCertPool()
	cfg.RootCAs.AppendCertsFromPEM(pem)
	cfg.ServerName = "localhost"
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", *addr, cfg)
	if err != nil {
		fail("handshake: " + err.Error())
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	report(c.ConnectionState())
	c.Write([]byte("hi\n"))
	c.CloseWrite()
	io.Copy(io.Discard, c)
	c.Close()
}
