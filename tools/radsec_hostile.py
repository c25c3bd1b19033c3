#!/usr/bin/env python3
"""radsec_hostile: hostile RadSec peers, for tests and benchmarks of the gateway's limits.

Opens connections of several kinds at a bounded rate, each from its own source address in
127.0.0.0/8 (so per-address limits do not hide anything), holds them for --duration seconds
and prints one summary line per kind:

  kind=KIND opened=N connected=N handshakes=N closed=N held=N close_p50_s=S close_max_s=S
            sent_bytes=N cycles=N

Kinds (--KIND COUNT):
  half-open     TCP connect, then silence
  garbage       send random octets that are no TLS
  partial-hello send the first half of a real ClientHello, then one octet per --dribble s
  slow-after    complete the handshake (client certificate), then send a RADIUS packet one
                octet per TLS record, one record per --dribble s
  flood         complete the handshake, then pipeline Accounting-Requests as fast as TCP
                takes them, never reading a reply
  oversize      complete the handshake, then a RADIUS header whose Length is 5000
  churn         handshake, one Accounting-Request, wait for the reply, close, again

"closed" counts connections the gateway closed (FIN or RST seen); close_*_s are measured
from the connect. Exit 0 unless the tool itself failed. A test tool: single thread, epoll,
TLS through ssl.MemoryBIO so thousands of connections cost no threads.
"""
import argparse
import errno
import hashlib
import os
import resource
import select
import socket
import ssl
import struct
import sys
import time

KINDS = ["half-open", "garbage", "partial-hello", "slow-after", "flood", "oversize", "churn"]


def acct_request(ident, secret, session):
    """An Accounting-Request (RFC 2866 §3: Request Authenticator over the packet + secret)."""
    attrs = b""
    for typ, val in ((1, b"hostile"), (40, struct.pack(">I", 1)), (44, session),
                     (32, b"radsec-hostile")):
        attrs += bytes([typ, len(val) + 2]) + val
    length = 20 + len(attrs)
    head = struct.pack(">BBH", 4, ident & 0xFF, length)
    auth = hashlib.md5(head + b"\0" * 16 + attrs + secret).digest()
    return head + auth + attrs


class Conn:
    __slots__ = ("kind", "sock", "tls", "inb", "outb", "state", "t_open", "t_closed", "pending",
                 "next_at", "sent", "cycles", "drip", "index", "want_write")

    def __init__(self, kind, index):
        self.kind, self.index = kind, index
        self.sock = self.tls = self.inb = self.outb = None
        self.state = "connecting"
        self.t_open = time.monotonic()
        self.t_closed = None
        self.pending = b""  # ciphertext or raw octets not yet taken by the socket
        self.next_at = 0.0
        self.sent = 0
        self.cycles = 0
        self.drip = b""
        self.want_write = False


class Hostile:
    def __init__(self, args):
        self.a = args
        self.secret = args.secret.encode()
        self.ep = select.epoll()
        self.by_fd = {}
        self.conns = []
        self.stats = {k: {"opened": 0, "connected": 0, "handshakes": 0, "closed": 0,
                          "close_times": [], "sent": 0, "cycles": 0} for k in KINDS}
        self.ctx = None
        if any(getattr(args, k.replace("-", "_")) for k in
               ("partial-hello", "slow-after", "flood", "oversize", "churn")):
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.load_verify_locations(args.ca)
            if args.cert:
                ctx.load_cert_chain(args.cert, args.key)
            self.ctx = ctx
        flood = b"".join(acct_request(i, self.secret, b"flood-%d" % i) for i in range(1024))
        self.flood_blob = flood
        self.seq = 0

    # ---- sockets ----
    def source(self, kind, index):
        k = KINDS.index(kind)
        return "127.%d.%d.%d" % (self.a.net + k, (index // 250) % 256, 1 + index % 250)

    def open(self, kind, index):
        c = Conn(kind, index)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        if kind == "flood":
            # A small receive window: what the gateway sends piles up on its side at once.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.a.flood_rcvbuf)
        try:
            s.bind((self.source(kind, index), 0))
        except OSError:
            s.bind(("127.0.0.1", 0))
        try:
            s.connect((self.a.host, self.a.port))
        except BlockingIOError:
            pass
        except OSError:
            s.close()
            self.stats[kind]["opened"] += 1
            self.stats[kind]["closed"] += 1
            return
        c.sock = s
        self.by_fd[s.fileno()] = c
        self.conns.append(c)
        self.stats[kind]["opened"] += 1
        self.ep.register(s.fileno(), select.EPOLLOUT | select.EPOLLRDHUP)

    def events_for(self, c):
        ev = select.EPOLLRDHUP
        if c.kind != "flood" or c.state != "open":
            ev |= select.EPOLLIN  # a flooder never reads once its requests flow
        if c.want_write or c.state == "connecting":
            ev |= select.EPOLLOUT
        return ev

    def rearm(self, c):
        if c.sock is not None:
            self.ep.modify(c.sock.fileno(), self.events_for(c))

    def closed(self, c, by_server=True):
        if c.sock is None:
            return
        try:
            self.ep.unregister(c.sock.fileno())
        except OSError:
            pass
        del self.by_fd[c.sock.fileno()]
        c.sock.close()
        c.sock = None
        c.t_closed = time.monotonic()
        st = self.stats[c.kind]
        st["sent"] += c.sent
        c.sent = 0
        if by_server:
            st["closed"] += 1
            st["close_times"].append(c.t_closed - c.t_open)

    def send_raw(self, c, data):
        """Queue octets for the socket; push what it takes now."""
        c.pending += data
        self.push(c)

    def push(self, c):
        while c.pending and c.sock is not None:
            try:
                n = c.sock.send(c.pending[:262144])
            except BlockingIOError:
                break
            except OSError:
                self.closed(c)
                return
            c.sent += n
            c.pending = c.pending[n:]
        want = bool(c.pending)
        if want != c.want_write:
            c.want_write = want
            self.rearm(c)

    def tls_flush(self, c):
        data = c.outb.read()
        if data:
            self.send_raw(c, data)

    # ---- behaviour per kind ----
    def on_connected(self, c):
        st = self.stats[c.kind]
        st["connected"] += 1
        c.state = "open" if c.kind in ("half-open", "garbage") else "handshake"
        if c.kind == "garbage":
            self.send_raw(c, os.urandom(1024))
        elif c.kind != "half-open":
            c.inb, c.outb = ssl.MemoryBIO(), ssl.MemoryBIO()
            c.tls = self.ctx.wrap_bio(c.inb, c.outb, server_side=False)
            try:
                c.tls.do_handshake()
            except ssl.SSLWantReadError:
                pass
            hello = c.outb.read()
            if c.kind == "partial-hello":
                half = len(hello) // 2
                self.send_raw(c, hello[:half])
                c.drip = hello[half:]
                c.next_at = time.monotonic() + self.a.dribble
                c.state = "dripping"
            else:
                self.send_raw(c, hello)
        self.rearm(c)

    def on_handshake(self, c):
        self.stats[c.kind]["handshakes"] += 1
        c.state = "open"
        if c.kind == "slow-after":
            self.seq += 1
            c.drip = acct_request(self.seq, self.secret, b"slow-%d" % self.seq)
            c.next_at = time.monotonic()
        elif c.kind == "oversize":
            c.tls.write(struct.pack(">BBH", 4, 1, 5000) + b"\0" * 200)
            self.tls_flush(c)
        elif c.kind == "flood":
            self.feed_flood(c)
        elif c.kind == "churn":
            self.seq += 1
            c.tls.write(acct_request(self.seq, self.secret, b"churn-%d" % self.seq))
            self.tls_flush(c)
        self.rearm(c)

    def feed_flood(self, c):
        # Encrypt more only when the socket took what was there: as fast as TCP lets us.
        while c.sock is not None and not c.pending:
            c.tls.write(self.flood_blob)
            self.tls_flush(c)

    def readable(self, c):
        try:
            data = c.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            self.closed(c)
            return
        if not data:
            self.closed(c)
            return
        if c.tls is None:
            return
        c.inb.write(data)
        if c.state == "handshake":
            try:
                c.tls.do_handshake()
            except ssl.SSLWantReadError:
                self.tls_flush(c)
                return
            except ssl.SSLError:
                self.tls_flush(c)
                return  # refused: the gateway closes the connection
            self.tls_flush(c)
            self.on_handshake(c)
            return
        try:
            plain = c.tls.read(65536)
        except (ssl.SSLWantReadError, ssl.SSLZeroReturnError, ssl.SSLError):
            plain = b""
        self.tls_flush(c)
        if c.kind == "churn" and len(plain) >= 20:
            c.cycles += 1
            self.stats[c.kind]["cycles"] += 1
            self.closed(c, by_server=False)
            self.open("churn", c.index)

    def tick(self, now):
        for c in self.conns:
            if c.sock is None or not c.drip or now < c.next_at:
                continue
            if c.kind == "partial-hello":
                self.send_raw(c, c.drip[:1])
            else:
                c.tls.write(c.drip[:1])
                self.tls_flush(c)
            c.drip = c.drip[1:]
            c.next_at = now + self.a.dribble

    def run(self):
        plan = []
        for k in KINDS:
            n = getattr(self.a, k.replace("-", "_"))
            plan.extend((k, i) for i in range(n))
        # Interleave the kinds so every kind is under way from the start.
        plan.sort(key=lambda ki: (ki[1] / max(1, getattr(self.a, ki[0].replace("-", "_"))), ki[0]))
        start = time.monotonic()
        end = start + self.a.duration
        opened = 0
        all_open_printed = False
        while True:
            now = time.monotonic()
            if now >= end:
                break
            due = min(len(plan), int((now - start) * self.a.open_rate) + 1)
            while opened < due:
                self.open(*plan[opened])
                opened += 1
            if opened == len(plan) and not all_open_printed:
                all_open_printed = True
                print("all-open after_s=%.2f" % (now - start), flush=True)
            for fd, ev in self.ep.poll(0.01 if opened < len(plan) else 0.05):
                c = self.by_fd.get(fd)
                if c is None:
                    continue
                if c.state == "connecting":
                    if ev & (select.EPOLLERR | select.EPOLLHUP):
                        self.closed(c)
                        continue
                    if ev & select.EPOLLOUT:
                        err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                        if err:
                            self.closed(c)
                            continue
                        self.on_connected(c)
                    continue
                if ev & select.EPOLLOUT and c.sock is not None:
                    self.push(c)
                    if c.kind == "flood" and c.state == "open" and c.sock is not None:
                        self.feed_flood(c)
                if c.sock is not None and ev & select.EPOLLIN:
                    self.readable(c)
                elif c.sock is not None and ev & (select.EPOLLRDHUP | select.EPOLLHUP |
                                                 select.EPOLLERR):
                    self.closed(c)
            self.tick(now)
        for c in self.conns:
            if c.sock is not None:
                self.stats[c.kind]["sent"] += c.sent
        for k in KINDS:
            st = self.stats[k]
            if not st["opened"]:
                continue
            held = sum(1 for c in self.conns if c.kind == k and c.sock is not None)
            t = sorted(st["close_times"])
            p50 = t[len(t) // 2] if t else 0.0
            print("kind=%s opened=%d connected=%d handshakes=%d closed=%d held=%d "
                  "close_p50_s=%.2f close_max_s=%.2f sent_bytes=%d cycles=%d" %
                  (k, st["opened"], st["connected"], st["handshakes"], st["closed"], held, p50,
                   t[-1] if t else 0.0, st["sent"], st["cycles"]), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ca", help="server CA (TLS kinds)")
    p.add_argument("--cert", help="client certificate (slow-after, flood, oversize, churn)")
    p.add_argument("--key")
    p.add_argument("--secret", default="radsec")
    p.add_argument("--duration", type=float, default=10, help="seconds to hold (default 10)")
    p.add_argument("--open-rate", type=float, default=2000, help="connections opened per s")
    p.add_argument("--dribble", type=float, default=1.0, help="s between dribbled octets")
    p.add_argument("--flood-rcvbuf", type=int, default=4096,
                   help="SO_RCVBUF of the flooders (default 4096)")
    p.add_argument("--net", type=int, default=10,
                   help="second octet of the first kind's source addresses (default 10)")
    for k in KINDS:
        p.add_argument("--" + k, type=int, default=0, metavar="N")
    a = p.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    Hostile(a).run()


if __name__ == "__main__":
    main()
