"""A minimal, fast SMTP sink for benchmarks (127.0.0.1, no TLS, no AUTH, offers DSN).

It runs in its own process so that its work does not share a core or the GIL
with the client being measured. It counts connections (open at once, in total).
"""

import multiprocessing
import socket
import socketserver

from benchlib import serve_in_child


class _Session(socketserver.StreamRequestHandler):
    def setup(self):
        super().setup()
        # Replies to a pipelined group are small writes in a row: without NODELAY,
        # Nagle holds each until the previous one is acknowledged (delayed ACK, 40 ms).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        counters = self.server.counters
        with counters["lock"]:
            counters["open"].value += 1
            counters["total"].value += 1
            counters["peak"].value = max(counters["peak"].value, counters["open"].value)

    def closed(self):
        if getattr(self, "_closed", False):
            return
        self._closed = True
        counters = self.server.counters
        with counters["lock"]:
            counters["open"].value -= 1

    def finish(self):
        self.closed()
        super().finish()

    def handle(self):
        write = self.wfile.write
        write(b"220 sink ESMTP\r\n")
        while True:
            line = self.rfile.readline(65536)
            if not line:
                return
            verb = line[:4].upper()
            if verb == b"EHLO":
                # PIPELINING (RFC 2920): replies are written in command order; buffered
                # input needs nothing else from a sink.
                write(b"250-sink\r\n250-8BITMIME\r\n250-SIZE 52428800\r\n250-DSN\r\n"
                      b"250-PIPELINING\r\n250 HELP\r\n")
            elif verb == b"DATA":
                write(b"354 go ahead\r\n")
                while True:
                    chunk = self.rfile.readline(1 << 20)
                    if chunk in (b".\r\n", b""):
                        break
                write(b"250 2.0.0 queued\r\n")
            elif verb == b"QUIT":
                # Closed for the count before the client reads the reply (and may connect
                # again): this thread's own clean-up can lag behind the client.
                self.closed()
                write(b"221 bye\r\n")
                return
            else:  # HELO, MAIL, RCPT, RSET, NOOP
                write(b"250 OK\r\n")


class ThreadingServer(socketserver.ThreadingTCPServer):
    """A TCP server with a thread per connection that does not wait for them at exit."""

    daemon_threads = True
    allow_reuse_address = True


def _serve(port, ready, counters):
    with ThreadingServer(("127.0.0.1", port), _Session) as server:
        server.counters = counters
        ready.set()
        server.serve_forever()


def start_sink():
    """Start the sink in a child process; return (process, port).

    ``process.counters`` holds shared values: connections ``open`` now, their
    ``peak`` and the ``total`` accepted (reset them with reset_counters()).
    """
    counters = {"lock": multiprocessing.Lock(), "open": multiprocessing.Value("i", 0),
                "peak": multiprocessing.Value("i", 0), "total": multiprocessing.Value("i", 0)}
    process, port = serve_in_child(_serve, counters, what="SMTP sink")
    process.counters = counters
    return process, port


def reset_counters(process):
    """Set the connection counters of the sink *process* back to zero (open stays)."""
    counters = process.counters
    with counters["lock"]:
        counters["peak"].value = counters["open"].value
        counters["total"].value = 0
