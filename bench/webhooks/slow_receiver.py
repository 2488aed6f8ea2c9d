#!/usr/bin/python3
"""A slow webhook receiver for bench/webhooks/slow-receivers: answers 200 to every POST after DELAY s.

    slow_receiver.py PORT [DELAY_SECONDS]

HTTP/1.1 on 127.0.0.1:PORT, standard library only (asyncio): keep-alive (requests on a connection
answered in order; `Connection: close` and HTTP/1.0 without keep-alive honoured), bodies by
Content-Length or chunked, `Expect: 100-continue` answered at once, any number of connections at
once (each a task; nothing blocks the loop). The delay runs from the end of the request's body.

    GET /status         {"connections", "open", "requests", "answered", "in_flight", "peak_in_flight"}
                        (counted since start; POSTs only, the status requests are not counted)
    GET /status?reset   the same, then peak_in_flight starts again from what is in flight

Prints "ready PORT" on stdout once listening; stops on SIGTERM or SIGINT (calls waiting are dropped).
"""
import asyncio
import json
import signal
import sys

MAX_HEAD = 64 * 1024
MAX_BODY = 16 * 1024 * 1024


class Stats:
    connections = 0
    open = 0
    requests = 0
    answered = 0
    in_flight = 0
    peak_in_flight = 0

    def as_dict(self):
        return {k: getattr(self, k) for k in ("connections", "open", "requests", "answered", "in_flight", "peak_in_flight")}


STATS = Stats()


class BadRequest(Exception):
    pass


async def read_body(reader, headers):
    if "chunked" in headers.get("transfer-encoding", "").lower():
        size_total = 0
        while True:
            line = await reader.readuntil(b"\r\n")
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                    pass
                return
            size_total += size
            if size_total > MAX_BODY:
                raise BadRequest("body too large")
            await reader.readexactly(size + 2)
    length = headers.get("content-length")
    if length is not None:
        if not length.strip().isdigit() or int(length) > MAX_BODY:
            raise BadRequest("bad content-length")
        await reader.readexactly(int(length))


def response(status, reason, body=b"", content_type=None, close=False):
    head = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body)}"]
    if content_type:
        head.append(f"Content-Type: {content_type}")
    if close:
        head.append("Connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def serve(reader, writer, delay):
    STATS.connections += 1
    STATS.open += 1
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                return  # the client closed the connection between requests
            lines = head.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ")
            if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
                writer.write(response(400, "Bad Request", close=True))
                await writer.drain()
                return
            method, target, version = parts
            headers = {}
            for line in lines[1:]:
                if not line:
                    continue
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            connection = headers.get("connection", "").lower()
            close = "close" in connection or (version == "HTTP/1.0" and "keep-alive" not in connection)
            if headers.get("expect", "").lower() == "100-continue":
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await read_body(reader, headers)
            if method == "POST":
                STATS.requests += 1
                STATS.in_flight += 1
                STATS.peak_in_flight = max(STATS.peak_in_flight, STATS.in_flight)
                try:
                    await asyncio.sleep(delay)
                finally:
                    STATS.in_flight -= 1
                writer.write(response(200, "OK", b"ok", "text/plain", close))
                await writer.drain()
                STATS.answered += 1
            elif method == "GET" and target.split("?", 1)[0] == "/status":
                body = json.dumps(STATS.as_dict()).encode()
                if target.endswith("?reset"):
                    STATS.peak_in_flight = STATS.in_flight
                writer.write(response(200, "OK", body, "application/json", close))
                await writer.drain()
            else:
                writer.write(response(405 if target.startswith("/hook") else 404, "Not Here", close=close))
                await writer.drain()
            if close:
                return
    except (BadRequest, ValueError, asyncio.LimitOverrunError):
        try:
            writer.write(response(400, "Bad Request", close=True))
            await writer.drain()
        except (ConnectionError, OSError):
            pass
    except (ConnectionError, OSError, asyncio.IncompleteReadError):
        pass
    finally:
        STATS.open -= 1
        writer.close()


async def main():
    port = int(sys.argv[1])
    delay = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0
    server = await asyncio.start_server(lambda r, w: serve(r, w, delay), "127.0.0.1", port,
                                        backlog=4096, limit=MAX_HEAD, reuse_address=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"ready {port}", flush=True)
    await stop.wait()
    server.close()  # not wait_closed(): it would wait for the clients' keep-alive connections (3.12+)


if __name__ == "__main__":
    asyncio.run(main())
