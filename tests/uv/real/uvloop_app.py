#!/usr/bin/python3
"""An asyncio program on python3-uvloop with known numbers, for tests/uv/test_uv_real.c.

    uvloop_app.py [--wait] CLIENTS ROUNDS LOOKUPS TIMERS JOBS

- one TCP echo server on 127.0.0.1 (a socket bound here and handed to create_server, so that
  uvloop makes no getaddrinfo request of its own for it): one listening handle;
- CLIENTS clients connect with create_connection("127.0.0.1", port) (a numeric address:
  uvloop resolves it without a request) and each makes ROUNDS request/reply round trips,
  waiting for each reply before it sends the next message, then closes;
- LOOKUPS times loop.getaddrinfo("localhost", None): a name, so each is one uv_getaddrinfo;
- TIMERS loop.call_later timers with distinct delays, each fires once;
- JOBS loop.run_in_executor calls (Python threads; their results come back to the loop
  through uvloop's async handle).

Everything runs in sequence on one event loop, created only after the optional "go" line on
stdin (--wait), so a tracer that attached before sees every handle the loop makes. The last
line is a summary with every number the program itself observed; its exit status is 0 only
when they all match what was asked.
"""
import asyncio
import socket
import sys

import uvloop

MESSAGE = b"ping-%06d\n"


class EchoServer(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


class EchoClient(asyncio.Protocol):
    def __init__(self, rounds, done):
        self.rounds = rounds
        self.done = done
        self.sent = 0
        self.echoed = 0
        self.pending = b""

    def connection_made(self, transport):
        self.transport = transport
        self.send_next()

    def send_next(self):
        self.expect = MESSAGE % self.sent
        self.sent += 1
        self.transport.write(self.expect)

    def data_received(self, data):
        self.pending += data
        if len(self.pending) < len(self.expect):
            return
        if self.pending != self.expect:
            self.done.set_exception(RuntimeError("bad echo %r" % self.pending))
            return
        self.pending = b""
        self.echoed += 1
        if self.sent < self.rounds:
            self.send_next()
        else:
            self.transport.close()

    def connection_lost(self, exc):
        if not self.done.done():
            self.done.set_result(self.echoed)


def job(i):
    return i * i


async def main(loop, clients, rounds, lookups, timers, jobs):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    port = listener.getsockname()[1]
    server = await loop.create_server(EchoServer, sock=listener)

    echoed = 0
    for _ in range(clients):
        done = loop.create_future()
        await loop.create_connection(lambda: EchoClient(rounds, done), "127.0.0.1", port)
        echoed += await done
    server.close()
    await server.wait_closed()

    # A machine without /etc/hosts (a minimal container) may not resolve "localhost": the
    # lookup is still one uv_getaddrinfo request that completes, with an error.
    looked_up = 0
    for _ in range(lookups):
        try:
            await loop.getaddrinfo("localhost", None, type=socket.SOCK_STREAM)
        except socket.gaierror:
            pass
        looked_up += 1

    fired = []
    all_fired = loop.create_future()

    def on_timer(i):
        fired.append(i)
        if len(fired) == timers:
            all_fired.set_result(None)

    for i in range(timers):
        loop.call_later(0.001 * (i + 1), on_timer, i)
    if timers:
        await all_fired

    results = []
    for i in range(jobs):
        results.append(await loop.run_in_executor(None, job, i))

    return echoed, looked_up, len(fired), sum(results)


def run():
    args = sys.argv[1:]
    wait = args[:1] == ["--wait"]
    if wait:
        args = args[1:]
    clients, rounds, lookups, timers, jobs = (int(a) for a in args)
    if wait:
        print("ready", flush=True)
        sys.stdin.readline()
    loop = uvloop.new_event_loop()
    try:
        echoed, looked_up, fired, job_sum = loop.run_until_complete(
            main(loop, clients, rounds, lookups, timers, jobs))
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        loop.close()
    want = (clients * rounds, lookups, timers, sum(i * i for i in range(jobs)))
    got = (echoed, looked_up, fired, job_sum)
    print("echoed %d lookups %d timers %d jobs %d" % got, flush=True)
    return 0 if got == want else 1


if __name__ == "__main__":
    sys.exit(run())
