#!/usr/bin/python3
"""Health-check latency of `likeness serve` while slow clients are connected.

    bench/slow_clients.py [--likeness build/likeness] [--slow 0,60,200]
                          [--checks 20] [--timeout 15] [-- EXTRA serve ARGS]

Starts `likeness serve --port 0` on a fresh temporary library (the models
must be installed), then for each count N: opens N connections that send the
start of a request head and then one more byte every second (a slowloris:
they never finish, and no per-read timeout fires), waits 2 s, and times
--checks health checks (GET /api/health on a fresh connection each, one after
the other), each given --timeout seconds. Reports, per N, the checks answered
200, the median and the slowest latency in ms, and how many of the slow
connections the server closed. Prints one JSON object on stdout; progress on
stderr. Debian's python3 only (no packages).
"""
import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time


def start_server(likeness, extra):
    library = tempfile.mkdtemp(prefix="likeness-slow-clients-")
    process = subprocess.Popen(
        [likeness, "serve", "--library", os.path.join(library, "library"), "--port", "0"] + extra,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        if found:
            return process, int(found.group(1)), library
    process.kill()
    raise SystemExit("likeness serve did not print its URL")


class Slowloris:
    def __init__(self, port, count):
        self.sockets = []
        for _ in range(count):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"GET /api/health HTTP/1.1\r\nHost: slow\r\nX-Slow: ")
            self.sockets.append(s)
        self.stop = threading.Event()
        self.closed = set()
        self.thread = threading.Thread(target=self.trickle, daemon=True)
        self.thread.start()

    def trickle(self):
        while not self.stop.wait(1.0):
            for i, s in enumerate(self.sockets):
                if i in self.closed:
                    continue
                try:
                    s.send(b"a")
                except OSError:
                    self.closed.add(i)

    def count_closed(self):
        """Connections the server answered or closed."""
        for i, s in enumerate(self.sockets):
            if i in self.closed:
                continue
            s.setblocking(False)
            try:
                if s.recv(1, socket.MSG_PEEK) is not None:
                    self.closed.add(i)  # an answer (503) or EOF
            except BlockingIOError:
                pass
            except OSError:
                self.closed.add(i)
            s.setblocking(True)
        return len(self.closed)

    def close(self):
        self.stop.set()
        self.thread.join()
        for s in self.sockets:
            s.close()


def health(port, timeout):
    start = time.perf_counter()
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        s.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n"
                  % port)
        reply = b""
        while b"\r\n\r\n" not in reply:
            left = timeout - (time.perf_counter() - start)
            if left <= 0:
                return None
            s.settimeout(left)
            data = s.recv(4096)
            if not data:
                break
            reply += data
        s.close()
    except (OSError, socket.timeout):
        return None
    if not reply.startswith(b"HTTP/1.1 200"):
        return None
    return (time.perf_counter() - start) * 1000.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--likeness", default="build/likeness")
    parser.add_argument("--slow", default="0,60,200")
    parser.add_argument("--checks", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=15.0)
    parser.add_argument("extra", nargs="*", help="more `likeness serve` arguments (after --)")
    args = parser.parse_args()

    process, port, library = start_server(args.likeness, args.extra)
    results = []
    try:
        for count in [int(n) for n in args.slow.split(",")]:
            slow = Slowloris(port, count)
            time.sleep(2.0)
            latencies = []
            for _ in range(args.checks):
                latencies.append(health(port, args.timeout))
            answered = [ms for ms in latencies if ms is not None]
            result = {
                "slow_connections": count,
                "checks": args.checks,
                "answered": len(answered),
                "median_ms": round(statistics.median(answered), 2) if answered else None,
                "max_ms": round(max(answered), 2) if answered else None,
                "slow_closed_by_server": slow.count_closed(),
            }
            print(json.dumps(result), file=sys.stderr)
            results.append(result)
            slow.close()
            time.sleep(1.0)
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(library, ignore_errors=True)
    print(json.dumps({"likeness": args.likeness, "extra": args.extra, "results": results}))


if __name__ == "__main__":
    main()
