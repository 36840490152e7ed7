#!/usr/bin/env python3
"""A fake Redis that answers every command with garbage, or never (issue 19).

fake-redis.py PORTFILE [silent]: listen on a free loopback port (written
to PORTFILE) and answer whatever arrives with an HTTP error line, as a
wrong service behind the Redis address would, or (silent) read and never
answer, as a hung Redis; runs until killed.
"""
import os
import socket
import sys
import threading


SILENT = len(sys.argv) > 2 and sys.argv[2] == "silent"


def serve(c):
    try:
        while c.recv(65536):
            if not SILENT:
                c.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    except OSError:
        pass
    c.close()


ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(16)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write("%d\n" % ls.getsockname()[1])
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
while True:
    conn, _ = ls.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
