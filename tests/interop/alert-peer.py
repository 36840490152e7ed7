#!/usr/bin/env python3
"""A TLS 1.3 peer that makes the other side fail while it still has input
to read, then checks that the fatal alert arrives rather than a reset.

  alert-peer.py client PORT RUNS   connect to kitls-server (--sendfile F)
  alert-peer.py server PORTFILE RUNS CERT KEY
                                   accept RUNS connections from kitls-client

client: handshake, then, without reading, a record that cannot decrypt
followed by 64 KiB of more records; only then read.  The server's answer
(its file, then the alert) cannot all be in flight at once: our receive
window is a few KiB.  A server that closes with our junk unread resets the
connection and the kernel drops what it had not sent yet: the alert.

server: handshake, then, without reading, the same garbage; kitls-client
(stdin: a large input to send) fails on it while its own data is still
queued behind our closed window.

Prints "alert N/RUNS" and exits 0 when every run saw the alert.
"""
import os
import socket
import ssl
import sys
import time

GARBAGE = b"\x17\x03\x03\x00\x20" + os.urandom(32)
JUNK = (b"\x17\x03\x03\x10\x00" + os.urandom(4096)) * 16


def pump_handshake(s, obj):
    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            pass
        out = obj._outgoing.read()
        if out:
            s.sendall(out)
        data = s.recv(65536)
        if not data:
            raise ConnectionError("EOF in handshake")
        obj._incoming.write(data)
    out = obj._outgoing.read()
    if out:
        s.sendall(out)


def wrap(ctx, server_side):
    inc, outb = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, outb, server_side=server_side,
                       server_hostname=None if server_side else "localhost")
    obj._incoming, obj._outgoing = inc, outb
    return obj


def attack_and_read(s, obj):
    """Send the garbage, wait, then read until EOF: 'alert' or what went wrong."""
    try:
        s.sendall(GARBAGE + JUNK)
    except OSError:
        pass  # the peer may already have closed; reading tells the rest
    time.sleep(0.3)
    while True:
        try:
            data = s.recv(65536)
        except OSError as e:
            return "transport error before any alert: %s" % e.__class__.__name__
        if not data:
            return "EOF without an alert"
        obj._incoming.write(data)
        try:
            while obj.read(65536):
                pass
        except ssl.SSLWantReadError:
            continue
        except ssl.SSLError as e:
            return "alert" if "ALERT" in str(e).upper() else "TLS error: %s" % e


def main():
    mode, runs = sys.argv[1], int(sys.argv[3])
    seen = 0
    if mode == "client":
        port = int(sys.argv[2])
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        for i in range(runs):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
            s.connect(("127.0.0.1", port))
            obj = wrap(ctx, False)
            pump_handshake(s, obj)
            res = attack_and_read(s, obj)
            s.close()
            seen += res == "alert"
            if res != "alert":
                print("run %d: %s" % (i, res))
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.load_cert_chain(sys.argv[4], sys.argv[5])
        ctx.num_tickets = 0
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
        ls.bind(("127.0.0.1", 0))
        ls.listen(4)
        with open(sys.argv[2] + ".tmp", "w") as f:
            f.write("%d\n" % ls.getsockname()[1])
        os.rename(sys.argv[2] + ".tmp", sys.argv[2])
        ls.settimeout(30)
        for i in range(runs):
            s, _ = ls.accept()
            obj = wrap(ctx, True)
            pump_handshake(s, obj)
            res = attack_and_read(s, obj)
            s.close()
            seen += res == "alert"
            if res != "alert":
                print("run %d: %s" % (i, res))
    print("alert %d/%d" % (seen, runs))
    return 0 if seen == runs else 1


if __name__ == "__main__":
    sys.exit(main())
