#!/usr/bin/env python3
"""A stand-in for systemd's notification socket: binds an AF_UNIX datagram socket at PATH
and writes one line per message received to stdout: seconds since start, whether TCP
127.0.0.1:PORT was in LISTEN state at that moment (read from /proc/net/tcp, no connection
made), and the message with newlines shown as '|'. Exits 2 s after STOPPING=1, or after
TIMEOUT seconds. Usage: notify_listen.py PATH PORT [TIMEOUT]"""
import os
import socket
import sys
import time


def listening(port):
    want = ":%04X" % port
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for row in f:
                    cols = row.split()
                    if cols[1].endswith(want) and cols[3] == "0A":
                        return True
        except OSError:
            pass
    return False


def main():
    path, port = sys.argv[1], int(sys.argv[2])
    timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 60
    if os.path.exists(path):
        os.unlink(path)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    start = time.monotonic()
    stop_at = start + timeout
    while time.monotonic() < stop_at:
        s.settimeout(max(0.05, stop_at - time.monotonic()))
        try:
            msg = s.recv(4096).decode("utf-8", "replace")
        except socket.timeout:
            break
        now = time.monotonic() - start
        print("%.3f listening=%d %s" % (now, listening(port), msg.replace("\n", "|")),
              flush=True)
        if "STOPPING=1" in msg.split("\n"):
            stop_at = min(stop_at, time.monotonic() + 2)
    os.unlink(path)


if __name__ == "__main__":
    main()
