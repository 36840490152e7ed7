#!/usr/bin/env python3
"""A TCP relay that records what the client sends, and its replay (issue 19).

record PORTFILE TARGET_PORT OUTFILE: listen on a free loopback port
  (written to PORTFILE), relay one connection to TARGET_PORT both ways,
  write every byte the client sent to OUTFILE, exit when both sides close.
replay TARGET_PORT INFILE: connect to TARGET_PORT, send INFILE's bytes as
  recorded (the ClientHello with its 0-RTT data and the rest of the
  client's flight), read what the server answers until it closes or 3 s
  pass, print "sent N got M".
"""
import os
import select
import socket
import sys


def record(portfile, target, outfile):
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    with open(portfile + ".tmp", "w") as f:
        f.write("%d\n" % ls.getsockname()[1])
    os.rename(portfile + ".tmp", portfile)
    ls.settimeout(20)
    c, _ = ls.accept()
    s = socket.create_connection(("127.0.0.1", target))
    rec = bytearray()
    open_ = {c: True, s: True}
    peer = {c: s, s: c}
    while any(open_.values()):
        r, _, _ = select.select([x for x in open_ if open_[x]], [], [], 10)
        if not r:
            break
        for x in r:
            data = x.recv(65536)
            if not data:
                open_[x] = False
                try:
                    peer[x].shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                continue
            if x is c:
                rec += data
            peer[x].sendall(data)
    with open(outfile, "wb") as f:
        f.write(rec)


def replay(target, infile):
    data = open(infile, "rb").read()
    s = socket.create_connection(("127.0.0.1", target))
    s.settimeout(3)
    got = 0
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        while True:
            b = s.recv(65536)
            if not b:
                break
            got += len(b)
    except OSError:
        pass
    print("sent %d got %d" % (len(data), got))


if __name__ == "__main__":
    if sys.argv[1] == "record":
        record(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif sys.argv[1] == "replay":
        replay(int(sys.argv[2]), sys.argv[3])
    else:
        sys.exit("usage: relay.py record PORTFILE TARGET OUT | replay TARGET IN")
