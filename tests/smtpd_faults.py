"""Servers that misbehave in time: a trickling SMTP server and a round-trip delay proxy.

Both listen on 127.0.0.1 only, on ephemeral ports, and stop() closes every
socket. This kernel has no netem qdisc (docs/architecture.md), so network delay is
modelled in user space: :class:`DelayProxy` holds each chunk the client
writes for one round-trip time before passing it on, so a client that waits
for each reply pays one RTT per command and a pipelining client one per group.
"""

import asyncio
import socket
import threading
import time

from .smtpd import DSNSMTP

TRICKLE_STAGES = ("greeting", "ehlo", "auth", "rcpt", "data")


def trickling_smtp_class(stage, *, interval=0.25, connections=1):
    """Return an aiosmtpd SMTP class that trickles one reply on its first *connections*.

    *stage*: the reply sent one byte per *interval* seconds — ``greeting``,
    ``ehlo``, ``auth``, ``rcpt`` (the first RCPT reply) or ``data`` (the reply
    after the message content, not the 354).
    """
    assert stage in TRICKLE_STAGES
    counter = {"connections": 0}
    lock = threading.Lock()

    class TricklingSMTP(DSNSMTP):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            with lock:
                counter["connections"] += 1
                # Connection 1 is aiosmtpd's own start-up check (Controller._trigger_server).
                self._bad = 2 <= counter["connections"] <= 1 + connections
            self._current = "greeting"
            self._done = False

        async def smtp_EHLO(self, arg):
            self._current = "ehlo"
            return await super().smtp_EHLO(arg)

        async def smtp_AUTH(self, arg):
            self._current = "auth"
            return await super().smtp_AUTH(arg)

        async def smtp_RCPT(self, arg):
            self._current = "rcpt"
            return await super().smtp_RCPT(arg)

        async def smtp_DATA(self, arg):
            self._current = "data"
            return await super().smtp_DATA(arg)

        async def push(self, status):
            response = status.encode("ascii") if isinstance(status, str) else status
            if (not self._bad or self._done or self._current != stage
                    or (stage == "data" and response.startswith(b"354"))):
                return await super().push(status)
            self._done = True  # trickle one reply per connection
            for index in range(len(response) + 2):
                if self._writer.transport.is_closing():
                    return None
                self._writer.write((response + b"\r\n")[index:index + 1])
                await asyncio.sleep(interval)
            return None

    TricklingSMTP.counter = counter
    return TricklingSMTP


class DelayProxy:
    """TCP proxy 127.0.0.1:port -> 127.0.0.1:target delaying client->server data."""

    host = "127.0.0.1"

    def __init__(self, target_port, delay):
        self.target_port = target_port
        self.delay = delay
        self.chunks = 0  # client writes seen (one per command group, roughly)
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        if not self.ready.wait(10):
            raise RuntimeError("delay proxy did not start")

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(
            asyncio.start_server(self._handle, self.host, 0))
        self.port = self.server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()

    async def _handle(self, client_reader, client_writer):
        server_reader, server_writer = await asyncio.open_connection(
            self.host, self.target_port)
        queue = asyncio.Queue()

        async def read_client():
            while data := await client_reader.read(65536):
                self.chunks += 1
                queue.put_nowait((time.monotonic() + self.delay, data))
            queue.put_nowait((time.monotonic() + self.delay, b""))

        async def forward_up():
            while True:
                due, data = await queue.get()
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                if not data:
                    server_writer.close()
                    return
                server_writer.write(data)

        async def forward_down():
            while data := await server_reader.read(65536):
                client_writer.write(data)
            client_writer.close()

        tasks = [asyncio.ensure_future(t) for t in (read_client(), forward_up(), forward_down())]
        try:
            await asyncio.gather(*tasks)
        except (ConnectionError, OSError):
            pass
        finally:
            for task in tasks:
                task.cancel()
            client_writer.close()
            server_writer.close()

    def stop(self):
        async def close():
            self.server.close()
            # Connections still forwarding (a client gone after QUIT) end here, not at GC.
            tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


class BannerServer:
    """Accept connections on 127.0.0.1, send *banner*, then wait: a non-SMTP service."""

    host = "127.0.0.1"
    username = password = ""

    def __init__(self, banner):
        self.banner = banner
        self.sock = socket.create_server((self.host, 0), backlog=16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.clients = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopped.is_set():
            try:
                client, _addr = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            self.clients.append(client)
            try:
                client.sendall(self.banner)
            except OSError:
                pass

    def stop(self):
        self.stopped.set()
        self.thread.join(5)
        for client in self.clients:
            client.close()
        self.sock.close()
