#!/usr/bin/env python3
"""Loopback benchmark: examples/kitls-server + kitls-client against
openssl s_server + s_client, over TCP on 127.0.0.1, every process pinned to
one core (taskset).  Run by `bench/run.sh --only loopback`; stdlib only.

Per round (the library order flips every round; medians are reported):
  s_time   `openssl s_time -new -time T` against each server: the same
           OpenSSL client, so this compares the servers (full handshakes,
           X25519, ECDSA P-256 leaf, no tickets, no data).
  conns    N sequential client processes against the server of the same
           library, each sending one line and closing (close_notify): a
           full handshake plus process start-up, which both clients pay.
  transfer one client process sending M MiB from a file to the server
           (relay mode, 16 KiB reads), server output to /dev/null.
CPU time: client processes from getrusage(RUSAGE_CHILDREN), the server from
/proc/PID/stat (utime + stime), both in seconds.
"""
import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time

SUITE = "TLS_AES_128_GCM_SHA256"


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def make_pki(d):
    """P-256 CA and a "localhost" leaf signed by it (openssl CLI)."""
    ext = os.path.join(d, "leaf.ext")
    with open(ext, "w") as f:
        f.write("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost\n")
    p = lambda n: os.path.join(d, n)
    sh(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", p("ca.key"), "-out", p("ca.pem"), "-days", "30",
        "-subj", "/CN=kitls loopback CA"])
    sh(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", p("leaf.key"), "-out", p("leaf.csr"), "-subj", "/CN=localhost"])
    sh(["openssl", "x509", "-req", "-in", p("leaf.csr"), "-CA", p("ca.pem"), "-CAkey",
        p("ca.key"), "-CAcreateserial", "-out", p("leaf.pem"), "-days", "30",
        "-extfile", ext])
    return p("ca.pem"), p("leaf.pem"), p("leaf.key")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def proc_cpu(pid):
    """CPU time of a (single-threaded) process, seconds: /proc/PID/schedstat
    has nanoseconds, where /proc/PID/stat has 10 ms ticks."""
    with open("/proc/%d/schedstat" % pid) as f:
        return int(f.read().split()[0]) / 1e9


def example(a, name):
    """The example binary itself, not libtool's wrapper script (a shell
    start per connection would be charged to kitls-client)."""
    real = os.path.join(a.bindir, "examples/.libs", name)
    return real if os.path.exists(real) else os.path.join(a.bindir, "examples", name)


def example_env(a):
    env = dict(os.environ)
    # kitls-server also links libkitls-uring when liburing was found and
    # libkitls-redis when hiredis was (issue 19).
    libs = [os.path.join(a.bindir, d)
            for d in ("lib/.libs", "ktls/.libs", "uring/.libs", "redis/.libs")]
    libs = [d for d in libs if os.path.isdir(d)]
    if libs:
        env["LD_LIBRARY_PATH"] = ":".join(libs) + (":" + env["LD_LIBRARY_PATH"]
                                                   if env.get("LD_LIBRARY_PATH") else "")
    return env


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


class Server:
    def __init__(self, lib, a, pki, tmp, out=None):
        ca, cert, key = pki
        self.lib = lib
        pin = ["taskset", "-c", str(a.cpu)]
        if lib == "kitls":
            ready = os.path.join(tmp, "ready")
            if os.path.exists(ready):
                os.unlink(ready)
            cmd = pin + [example(a, "kitls-server"), "--host", "127.0.0.1",
                         "--port", "0", "--ready-file", ready, "--cert", cert, "--key", key,
                         "--groups", "x25519", "--suites", SUITE, "--tickets", "0", "--quiet"]
        else:
            self.port = free_port()
            cmd = pin + ["openssl", "s_server", "-accept", "127.0.0.1:%d" % self.port,
                         "-cert", cert, "-key", key, "-tls1_3", "-groups", "X25519",
                         "-ciphersuites", SUITE, "-num_tickets", "0", "-quiet"]
        # s_server ends the connection when its stdin reaches EOF: keep it open
        self.out = open(out, "wb") if out else subprocess.DEVNULL
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=self.out,
                                  stderr=subprocess.DEVNULL, env=example_env(a))
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.p.poll() is not None:
                raise RuntimeError("%s server exited (%d)" % (lib, self.p.returncode))
            if lib == "kitls":
                try:
                    with open(ready) as f:
                        self.port = int(f.read().strip())
                    break
                except (OSError, ValueError):
                    pass
            else:
                # s_server logs this probe as a failed connection and goes on
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    break
                except OSError:
                    pass
            time.sleep(0.05)
        else:
            raise RuntimeError("%s server did not start" % lib)
        time.sleep(0.1)

    def cpu(self):
        return proc_cpu(self.p.pid)

    def stop(self):
        self.p.terminate()
        self.p.wait()
        self.p.stdin.close()
        if self.out != subprocess.DEVNULL:
            self.out.close()


def client_cmd(lib, a, pki, port):
    ca = pki[0]
    pin = ["taskset", "-c", str(a.cpu)]
    if lib == "kitls":
        return pin + [example(a, "kitls-client"), "--host", "127.0.0.1",
                      "--port", str(port), "--servername", "localhost", "--cafile", ca,
                      "--groups", "x25519", "--suites", SUITE, "--quiet"]
    return pin + ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-servername",
                  "localhost", "-CAfile", ca, "-verify_return_error", "-verify_hostname",
                  "localhost", "-tls1_3", "-groups", "X25519", "-ciphersuites", SUITE,
                  "-quiet", "-no_ign_eof", "-nocommands"]


def run_client(a, cmd, stdin_path):
    with open(stdin_path, "rb") as f:
        r = subprocess.run(cmd, stdin=f, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           env=example_env(a))
    if r.returncode != 0:
        raise RuntimeError("client failed (%d): %s: %s"
                           % (r.returncode, " ".join(cmd), r.stderr.decode()[-300:]))


def s_time(a, port):
    cmd = ["taskset", "-c", str(a.cpu), "openssl", "s_time", "-connect",
           "127.0.0.1:%d" % port, "-new", "-time", str(a.stime), "-ciphersuites", SUITE]
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT).stdout.decode()
    # "N connections in T.TTs; R connections/user sec, bytes read 0"
    # "N connections in S real seconds, 0 bytes read per connection"
    real = user = n = None
    for line in out.splitlines():
        w = line.split()
        if "real seconds" in line and len(w) > 4:
            n, real = int(w[0]), int(w[0]) / float(w[3])
        elif "connections/user sec" in line:
            user = float(w[4])
    if real is None:
        raise RuntimeError("s_time: no result: %s" % out[-300:])
    return real, user, n


def one_round(lib, a, pki, tmp, hello, blob):
    res = {}
    srv = Server(lib, a, pki, tmp)
    try:
        s0 = srv.cpu()
        res["s_time_per_sec"], res["s_time_per_user_sec"], n = s_time(a, srv.port)
        res["s_time_server_cpu_ms"] = (srv.cpu() - s0) * 1e3 / n
        cmd = client_cmd(lib, a, pki, srv.port)
        run_client(a, cmd, hello)  # warm-up
        s0, c0, t0 = srv.cpu(), children_cpu(), time.monotonic()
        for _ in range(a.n):
            run_client(a, cmd, hello)
        t1, c1, s1 = time.monotonic(), children_cpu(), srv.cpu()
        res["conn_ms"] = (t1 - t0) * 1e3 / a.n
        res["conn_client_cpu_ms"] = (c1 - c0) * 1e3 / a.n
        res["conn_server_cpu_ms"] = (s1 - s0) * 1e3 / a.n
        s0, c0, t0 = srv.cpu(), children_cpu(), time.monotonic()
        run_client(a, cmd, blob)
        t1, c1, s1 = time.monotonic(), children_cpu(), srv.cpu()
        mb = a.mib * 1048576 / 1e6
        res["transfer_mbs"] = mb / (t1 - t0)
        res["transfer_client_cpu_s"] = c1 - c0
        res["transfer_server_cpu_s"] = s1 - s0
    finally:
        srv.stop()
    return res


def med(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bindir", required=True, help="build directory (examples/kitls-*)")
    ap.add_argument("--cpu", type=int, default=0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--n", type=int, default=40, help="sequential connections per round")
    ap.add_argument("--mib", type=int, default=128, help="MiB per transfer")
    ap.add_argument("--stime", type=int, default=2, help="seconds per s_time run")
    ap.add_argument("--json-file")
    a = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="kitls-loopback-")
    pki = make_pki(tmp)
    hello = os.path.join(tmp, "hello")
    with open(hello, "wb") as f:
        f.write(b"hello\n")
    blob = os.path.join(tmp, "blob")
    with open(blob, "wb") as f:
        chunk = bytes(range(256)) * 4096
        for _ in range(a.mib):
            f.write(chunk)

    # functional check: the whole file reaches each server
    small = os.path.join(tmp, "small")
    with open(small, "wb") as f:
        f.write(bytes(range(256)) * 4096)
    got = os.path.join(tmp, "got")
    for lib in ("kitls", "openssl"):
        srv = Server(lib, a, pki, tmp, out=got)
        try:
            run_client(a, client_cmd(lib, a, pki, srv.port), small)
            time.sleep(0.3)
        finally:
            srv.stop()
        if os.path.getsize(got) < os.path.getsize(small):
            raise RuntimeError("%s: the server received %d of %d bytes"
                               % (lib, os.path.getsize(got), os.path.getsize(small)))

    rounds = {"kitls": [], "openssl": []}
    for r in range(a.rounds):
        order = ("kitls", "openssl") if r % 2 == 0 else ("openssl", "kitls")
        for lib in order:
            rounds[lib].append(one_round(lib, a, pki, tmp, hello, blob))

    keys = ["s_time_per_sec", "s_time_per_user_sec", "s_time_server_cpu_ms", "conn_ms", "conn_client_cpu_ms",
            "conn_server_cpu_ms", "transfer_mbs", "transfer_client_cpu_s",
            "transfer_server_cpu_s"]
    out = {"rounds": a.rounds, "n": a.n, "mib": a.mib, "stime": a.stime, "cpu": a.cpu,
           "openssl": sh(["openssl", "version"]).stdout.decode().strip()}
    for lib in rounds:
        out[lib] = {k: med([x[k] for x in rounds[lib] if x.get(k) is not None] or [0])
                    for k in keys}
        out[lib]["per_round"] = rounds[lib]
    k, o = out["kitls"], out["openssl"]
    out["ratio"] = {
        "s_time_per_sec": k["s_time_per_sec"] / o["s_time_per_sec"],
        "s_time_server_cpu": k["s_time_server_cpu_ms"] / o["s_time_server_cpu_ms"],
        "conn_time": k["conn_ms"] / o["conn_ms"],
        "transfer_mbs": k["transfer_mbs"] / o["transfer_mbs"],
    }

    print("Loopback (127.0.0.1, TCP, every process on cpu %d; X25519, ECDSA P-256, %s; "
          "median of %d rounds):" % (a.cpu, SUITE, a.rounds))
    print("  %-52s %12s %12s %8s" % ("", "kitls", "openssl", "k/o"))
    rows = [
        ("s_time -new: handshakes/s (wall), server under test", "s_time_per_sec", "%.1f"),
        ("  s_time client's handshakes per user-CPU s", "s_time_per_user_sec", "%.1f"),
        ("  server CPU ms per handshake", "s_time_server_cpu_ms", "%.3f"),
        ("%d sequential client processes: ms/connection" % a.n, "conn_ms", "%.2f"),
        ("  client CPU ms/connection (process incl.)", "conn_client_cpu_ms", "%.2f"),
        ("  server CPU ms/connection", "conn_server_cpu_ms", "%.2f"),
        ("transfer %d MiB client->server: MB/s (wall)" % a.mib, "transfer_mbs", "%.1f"),
        ("  client CPU s", "transfer_client_cpu_s", "%.3f"),
        ("  server CPU s", "transfer_server_cpu_s", "%.3f"),
    ]
    for label, key, fmt in rows:
        kv, ov = k[key], o[key]
        print("  %-52s %12s %12s %7.2fx" % (label, fmt % kv, fmt % ov, kv / ov if ov else 0))
    print("  clients: kitls-client vs openssl s_client (each a new process per connection);\n"
          "  servers: kitls-server vs openssl s_server (one process, sequential accepts)")
    if a.json_file:
        with open(a.json_file, "w") as f:
            json.dump(out, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    try:
        main()
    except (RuntimeError, subprocess.CalledProcessError) as e:
        print("loopback.py: %s" % e, file=sys.stderr)
        sys.exit(2)
