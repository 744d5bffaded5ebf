#!/usr/bin/env python3
"""Loopback TCP proxy that adds a fixed round-trip delay (tc netem without root).

Listens on 127.0.0.1:PORT and forwards every connection to 127.0.0.1:TARGET. Each chunk
read from one side is written to the other side RTT/2 after it arrived, in both
directions, so a request/response exchange costs one extra RTT. Order is preserved
(one FIFO per direction) and bandwidth is not throttled: chunks are not spaced
out, only shifted in time. Memory is bounded: each direction holds at most
--max-buffer bytes in flight (reading pauses until the far side catches up), and
at most --max-connections connections are forwarded at once. Further ones are
accepted but wait, unforwarded, until a forwarded one closes (first come, first
served): the client's TCP connect succeeds and its TLS handshake hangs, the way
connects to an overloaded server hang. A waiting client that closes its end is
dropped unserved. TLS passes through untouched, so clients keep verifying the
server's certificate for 127.0.0.1.

Throughput ceiling per connection and direction is max-buffer / (RTT/2)
(default 8 MiB / 10 ms = 800 MiB/s); raise --max-buffer for faster links.
With --rate R each connection is also paced to R bytes/s per direction (a
per-connection throttle, as a shaper in front of a server applies; nginx's
limit_rate is per request instead), in slices of 16 KiB.

Stops by itself on SIGTERM or SIGINT: closes the listener and every connection and
exits 0. Prints "port=P" on stdout (and writes it to --port-file) once listening.

Counters, logged on stderr when it stops and written (key=value lines) to
--stats-file: accepted (connections the client opened), admitted (forwarded to
the target), gave_up (closed by their client while still waiting: never
forwarded), peak_open (forwarded at once), peak_waiting (waiting at once),
bytes_up and bytes_down. With --stats-file, the number open and waiting is also
sampled every --sample-ms and written as "sample=EPOCH_SECONDS OPEN WAITING"
lines (a sample is written only when it differs from the one before, plus the
last one).
"""

import argparse
import asyncio
import collections
import os
import signal
import socket
import sys
import time

PROG = "delay_proxy"
CHUNK = 256 * 1024
PACE_SLICE = 16 * 1024


def log(msg):
    print(f"{PROG}: {msg}", file=sys.stderr, flush=True)


def port_number(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}")
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range: {text!r}")
    return value


def nonneg_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}")
    if value < 0 or value > 60_000:
        raise argparse.ArgumentTypeError(f"must be 0..60000: {text!r}")
    return value


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1: {text!r}")
    return value


class DelayedPipe:
    """One direction of a connection: reader -> FIFO of (due, bytes) -> writer."""

    def __init__(self, reader, writer, delay, max_buffer, abort, rate=0, first=b"", count=None):
        self.abort = abort               # called on a connection error: tears down both ways
        self.rate = rate                 # bytes/s, 0 = not paced
        self.next_free = 0.0             # when pacing allows the next slice out
        self.aborted = False
        self.reader = reader
        self.writer = writer
        self.delay = delay
        self.max_buffer = max_buffer
        self.queue = collections.deque()
        self.buffered = 0
        self.eof = False
        self.changed = asyncio.Event()   # something was queued, or EOF
        self.drained = asyncio.Event()   # buffered dropped below max_buffer
        self.drained.set()
        self.count = count               # called with the size of every chunk read
        if first:                        # bytes read before the connection was forwarded
            self.queue.append((time.monotonic() + delay, first))
            self.buffered = len(first)
            if count:
                count(len(first))

    async def pump_in(self):
        try:
            while not self.aborted:
                await self.drained.wait()
                if self.aborted:
                    break
                data = await self.reader.read(CHUNK)
                if not data:
                    break
                if self.count:
                    self.count(len(data))
                self.queue.append((time.monotonic() + self.delay, data))
                self.buffered += len(data)
                if self.buffered >= self.max_buffer:
                    self.drained.clear()
                self.changed.set()
        except (ConnectionError, OSError):
            self.abort()
        finally:
            self.eof = True
            self.changed.set()

    def stop(self):
        """Unblocks both pumps for good (the connection is being torn down)."""
        self.aborted = True
        self.queue.clear()
        self.eof = True
        self.changed.set()
        self.drained.set()

    async def write_paced(self, data):
        """Writes data at self.rate bytes/s: each slice waits until the previous ones have had
        their time (a token bucket one slice deep)."""
        for off in range(0, len(data), PACE_SLICE):
            if self.aborted:
                return
            piece = data[off:off + PACE_SLICE]
            now = time.monotonic()
            if self.next_free > now:
                await asyncio.sleep(self.next_free - now)
                now = time.monotonic()
            self.writer.write(piece)
            await self.writer.drain()
            self.next_free = max(self.next_free, now) + len(piece) / self.rate

    async def pump_out(self):
        try:
            while not self.aborted:
                if not self.queue:
                    if self.eof:
                        break
                    self.changed.clear()
                    await self.changed.wait()
                    continue
                due, data = self.queue[0]
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                # Everything already due goes out in one write (keeps order, no throttling).
                now = time.monotonic()
                parts = []
                while self.queue and self.queue[0][0] <= now:
                    parts.append(self.queue.popleft()[1])
                if not parts or self.aborted:
                    continue
                data = b"".join(parts)
                if self.rate:
                    await self.write_paced(data)
                else:
                    self.writer.write(data)
                    await self.writer.drain()
                self.buffered -= sum(len(p) for p in parts)
                if self.buffered < self.max_buffer:
                    self.drained.set()
            if not self.aborted and self.writer.can_write_eof():
                self.writer.write_eof()
        except (ConnectionError, OSError):
            self.abort()


class Proxy:
    def __init__(self, args):
        self.args = args
        self.delay = args.rtt_ms / 2000.0
        self.slots = asyncio.Semaphore(args.max_connections)
        self.tasks = set()
        self.stopping = asyncio.Event()
        self.stats = dict(accepted=0, admitted=0, gave_up=0, peak_open=0, peak_waiting=0,
                          bytes_up=0, bytes_down=0)
        self.open = 0
        self.waiting = 0
        self.samples = []

    def add_up(self, n):
        self.stats["bytes_up"] += n

    def add_down(self, n):
        self.stats["bytes_down"] += n

    async def wait_for_slot(self, client_reader):
        """Waits for a free slot while watching the client, whose first bytes (a TLS
        ClientHello) are kept to be forwarded later. Returns (admitted, first bytes);
        admitted is False when the client closed its end (or reset) before a slot was free."""
        acquire = asyncio.ensure_future(self.slots.acquire())
        first = b""
        watching = True
        try:
            while True:
                if not watching:
                    await acquire
                    return True, first
                read = asyncio.ensure_future(client_reader.read(CHUNK))
                done, _ = await asyncio.wait({acquire, read},
                                             return_when=asyncio.FIRST_COMPLETED)
                if acquire in done:
                    if read.done() and not read.cancelled():
                        # Both finished together: keep what was read (b"" is noticed later).
                        first += read.result() if read.exception() is None else b""
                    else:
                        read.cancel()   # a cancelled StreamReader.read consumes nothing
                    return True, first
                try:
                    data = read.result()
                except (ConnectionError, OSError):
                    data = b""
                if not data:
                    acquire.cancel()
                    try:
                        await acquire
                        self.slots.release()  # it was acquired just before the cancel
                    except asyncio.CancelledError:
                        pass
                    return False, first
                first += data
                # Nothing more comes before the server answers; stop watching a client that
                # sends more than a handshake's worth, rather than holding its bytes.
                watching = len(first) < 64 * 1024
        except asyncio.CancelledError:
            acquire.cancel()
            raise

    async def handle(self, client_reader, client_writer):
        task = asyncio.current_task()
        self.tasks.add(task)
        upstream_writer = None
        admitted = False
        self.stats["accepted"] += 1
        try:
            if not self.slots.locked():   # a slot is free (and nobody is queued before us)
                await self.slots.acquire()
                admitted, first = True, b""
            else:
                self.waiting += 1
                self.stats["peak_waiting"] = max(self.stats["peak_waiting"], self.waiting)
                try:
                    admitted, first = await self.wait_for_slot(client_reader)
                finally:
                    self.waiting -= 1
            if not admitted:
                self.stats["gave_up"] += 1
                return
            self.stats["admitted"] += 1
            self.open += 1
            self.stats["peak_open"] = max(self.stats["peak_open"], self.open)
            try:
                upstream_reader, upstream_writer = await asyncio.open_connection(
                    "127.0.0.1", self.args.target_port)
            except OSError as exc:
                log(f"cannot connect to 127.0.0.1:{self.args.target_port}: {exc}")
                return
            for w in (client_writer, upstream_writer):
                sock = w.get_extra_info("socket")
                if sock is not None:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pipes = []

            def abort():
                for pipe in pipes:
                    pipe.stop()
                client_writer.close()
                upstream_writer.close()

            up = DelayedPipe(client_reader, upstream_writer, self.delay,
                             self.args.max_buffer, abort, self.args.rate, first, self.add_up)
            down = DelayedPipe(upstream_reader, client_writer, self.delay,
                               self.args.max_buffer, abort, self.args.rate, b"", self.add_down)
            pipes.extend((up, down))
            await asyncio.gather(up.pump_in(), up.pump_out(), down.pump_in(), down.pump_out())
        except asyncio.CancelledError:
            pass
        finally:
            for w in (client_writer, upstream_writer):
                if w is not None:
                    w.close()
            if admitted:
                self.open -= 1
                self.slots.release()
            self.tasks.discard(task)

    async def sample(self):
        last = None
        while True:
            now = (self.open, self.waiting)
            if now != last:
                self.samples.append((time.time(), *now))
                last = now
            await asyncio.sleep(self.args.sample_ms / 1000.0)

    def write_stats(self):
        summary = " ".join(f"{k}={v}" for k, v in self.stats.items())
        log(f"counters: {summary}")
        if not self.args.stats_file:
            return
        self.samples.append((time.time(), self.open, self.waiting))
        tmp = f"{self.args.stats_file}.tmp"
        with open(tmp, "w") as handle:
            handle.write(f"max_connections={self.args.max_connections}\n"
                         f"rate={self.args.rate}\nrtt_ms={self.args.rtt_ms:g}\n")
            for key, value in self.stats.items():
                handle.write(f"{key}={value}\n")
            for t, o, w in self.samples:
                handle.write(f"sample={t:.3f} {o} {w}\n")
        os.replace(tmp, self.args.stats_file)

    async def run(self):
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        try:
            server = await asyncio.start_server(
                self.handle, "127.0.0.1", self.args.port, backlog=1024, reuse_address=True)
        except OSError as exc:
            log(f"cannot listen on 127.0.0.1:{self.args.port}: {exc.strerror or exc}")
            return 1
        port = server.sockets[0].getsockname()[1]
        if self.args.port_file:
            tmp = f"{self.args.port_file}.tmp"
            with open(tmp, "w") as handle:
                handle.write(f"{port}\n")
            os.replace(tmp, self.args.port_file)
        print(f"port={port}", flush=True)
        log(f"127.0.0.1:{port} -> 127.0.0.1:{self.args.target_port}, "
            f"RTT +{self.args.rtt_ms:g} ms"
            + (f", {self.args.rate} bytes/s per connection" if self.args.rate else "")
            + f" (pid {os.getpid()})")
        sampler = asyncio.ensure_future(self.sample()) if self.args.stats_file else None
        await self.stopping.wait()
        if sampler:
            sampler.cancel()
        self.write_stats()
        server.close()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await server.wait_closed()
        log("stopped")
        return 0


def main(argv):
    parser = argparse.ArgumentParser(
        prog=PROG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description=__doc__.split("\n\n", 1)[0], epilog=__doc__.split("\n\n", 1)[1] + """
Example:
  bench/delay_proxy.py --target-port 8443 --rtt-ms 20 --port-file /tmp/p &
  curl --cacert ca.pem https://127.0.0.1:$(cat /tmp/p)/
""")
    parser.add_argument("--port", type=port_number, default=0, metavar="P",
                        help="port to listen on, 127.0.0.1 only (default: 0 = a free one)")
    parser.add_argument("--target-port", type=port_number, required=True, metavar="Q",
                        help="forward to 127.0.0.1:Q")
    parser.add_argument("--rtt-ms", type=nonneg_float, default=20.0, metavar="MS",
                        help="added round-trip time; RTT/2 each way (default: 20)")
    parser.add_argument("--max-buffer", type=positive_int, default=8 << 20, metavar="BYTES",
                        help="bytes held per connection and direction (default: 8 MiB)")
    parser.add_argument("--max-connections", type=positive_int, default=512, metavar="N",
                        help="connections forwarded at once; further ones wait (default: 512)")
    parser.add_argument("--rate", type=positive_int, default=0, metavar="BYTES",
                        help="pace each connection to BYTES/s per direction (default: no pacing)")
    parser.add_argument("--stats-file", metavar="FILE",
                        help="write the counters and samples to FILE when stopping")
    parser.add_argument("--sample-ms", type=positive_int, default=200, metavar="MS",
                        help="with --stats-file: sample open/waiting every MS ms (default: 200)")
    parser.add_argument("--port-file", metavar="FILE",
                        help="write the listening port to FILE (atomically) when ready")
    args = parser.parse_args(argv)
    if args.target_port == 0:
        parser.error("--target-port must not be 0")
    return asyncio.run(Proxy(args).run())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
