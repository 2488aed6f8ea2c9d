#!/usr/bin/env python3
"""Holds N mostly idle keep-alive connections open to an HTTP server (bench/feeds/run).

Each connection sends one GET and reads the whole response (Content-Length), then stays
open without sending anything: what calendar clients that poll now and then look like to
the server. Prints "ready OPEN" once every response has been read; on SIGTERM or SIGINT
(or after --hold seconds) prints "open OPEN closed CLOSED", the connections the server
still held and those it had closed, and exits. Python standard library only.

    idle.py HOST PORT PATH COUNT [--hold SECONDS]
"""
import os
import selectors
import signal
import socket
import sys
import time


def main():
    args = sys.argv[1:]
    hold = 300.0
    if "--hold" in args:
        i = args.index("--hold")
        hold = float(args[i + 1])
        del args[i:i + 2]
    if len(args) != 4:
        sys.exit(__doc__)
    host, port, path, count = args[0], int(args[1]), args[2], int(args[3])
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: bench-feeds-idle\r\n\r\n".encode()

    stop = False

    def on_signal(_signum, _frame):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    # Connect and send one request each; the responses are read below, all at once.
    sockets = []
    started = time.monotonic()

    def progress(what):
        print(f"idle.py: {what} after {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)

    for i in range(count):
        if stop:
            sys.exit(f"idle.py: stopped after {i} of {count} connections")
        if i % 500 == 0:
            progress(f"{i} connected")
        s = socket.create_connection((host, port), timeout=30)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(request)
        s.setblocking(False)
        sockets.append(s)

    # Read each response: the header block, then Content-Length bytes.
    selector = selectors.DefaultSelector()
    state = {}
    for s in sockets:
        state[s] = {"head": b"", "left": None}
        selector.register(s, selectors.EVENT_READ)
    pending = len(sockets)
    buf = bytearray(1 << 20)
    deadline = time.monotonic() + 120
    progress(f"{count} connected")
    while pending and not stop:
        if time.monotonic() > deadline:
            sys.exit(f"idle.py: {pending} of {count} responses not read within 120 s")
        for key, _ in selector.select(timeout=1):
            s = key.fileobj
            st = state[s]
            n = s.recv_into(buf)
            if n == 0:
                sys.exit("idle.py: the server closed a connection before its response was complete")
            if st["left"] is None:
                st["head"] += bytes(buf[:n])
                end = st["head"].find(b"\r\n\r\n")
                if end < 0:
                    continue
                head = st["head"][:end].decode("latin-1").split("\r\n")
                status = head[0].split(" ")[1]
                if status != "200":
                    sys.exit(f"idle.py: the server answered {head[0]!r}")
                length = None
                for line in head[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                if length is None:
                    sys.exit("idle.py: a response without Content-Length")
                st["left"] = length - (len(st["head"]) - end - 4)
                st["head"] = b""
            else:
                st["left"] -= n
            if st["left"] <= 0:
                selector.unregister(s)
                pending -= 1
    selector.close()
    progress(f"{count - pending} responses read")
    print(f"ready {len(sockets)}", flush=True)

    # Idle: nothing is sent until the end.
    until = time.monotonic() + hold
    while not stop and time.monotonic() < until:
        time.sleep(0.2)

    # A connection the server closed reads as end of file (or a reset).
    still_open = closed = 0
    for s in sockets:
        try:
            if s.recv(1, socket.MSG_PEEK) == b"":
                closed += 1
            else:
                still_open += 1
        except BlockingIOError:
            still_open += 1
        except OSError:
            closed += 1
    print(f"open {still_open} closed {closed}", flush=True)
    for s in sockets:
        s.close()
    os._exit(0)


if __name__ == "__main__":
    main()
