"""The common part of the loopback mailbox-API mirrors (graph_server.py, gmail_server.py).

An HTTPS server on 127.0.0.1 (a trustme certificate, HTTP/1.1 keep-alive as
the real front ends) that hands each request to the mirror's ``route()``.
Faults queued with ``fail_next()`` answer the next API requests instead
(throttling, outages), with their headers (``Retry-After``).
"""

import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


def serve_https(handler, certificate):
    """Serve *handler* over HTTPS on a free 127.0.0.1 port; return (server, its thread)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(context)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    return httpd, thread


class ApiMirror:
    """An HTTPS server whose answers come from ``self.route(request)``."""

    def __init__(self, certificate, endpoint):
        self.endpoint = endpoint  # tests/oauth_server.TokenEndpoint: the only token issuer
        self.lock = threading.Lock()
        self.requests = []  # (method, path, status answered)
        self.delivered = []  # (mailbox, MIME bytes as the service would deliver them)
        self.faults = []  # (status, body, headers) answered to the next API requests
        self.delay = 0.0  # seconds before each answer (after the request was read)
        self.httpd, self.thread = serve_https(_handler_for(self), certificate)
        self.port = self.httpd.server_address[1]

    @property
    def url(self):
        return f"https://127.0.0.1:{self.port}"

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)

    def fail_next(self, status, body, *, headers=None, times=1):
        """Answer the next *times* API requests with *status* and the JSON *body*."""
        with self.lock:
            self.faults.extend([(status, body, dict(headers or {}))] * times)

    def take_fault(self):
        with self.lock:
            return self.faults.pop(0) if self.faults else None

    def bearer(self, request):
        """Return the request's bearer token ("" when none)."""
        value = request.headers.get("Authorization", "")
        return value[7:] if value.startswith("Bearer ") else ""

    def token_subject(self, token):
        """Return (subject, scope) of a live token of the endpoint, or (None, "")."""
        endpoint = self.endpoint
        with endpoint.lock:
            subject, expires = endpoint.access_tokens.get(token, (None, 0))
        if subject is None or time.monotonic() >= expires:
            return None, ""
        return subject, endpoint.scope_of(token).partition(" ")[0]

    def route(self, request):
        raise NotImplementedError


class Request:
    """One request as the mirror sees it."""

    def __init__(self, method, path, headers, body):
        url = urlsplit(path)
        self.method = method
        self.path = url.path
        self.query = {k: v[0] for k, v in parse_qs(url.query).items()}
        self.headers = headers
        self.body = body

    def json(self):
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None


def _handler_for(mirror):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body are two writes: without NODELAY, Nagle holds the body until
        # the client's delayed ACK (40 ms), which no real front end does.
        disable_nagle_algorithm = True

        def log_message(self, *args):
            pass

        def handle_any(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = Request(self.command, self.path, self.headers, body)
            status, answer, headers = mirror.route(request)
            if mirror.delay:
                time.sleep(mirror.delay)
            with mirror.lock:
                mirror.requests.append((self.command, request.path, status))
            data = b"" if answer is None else json.dumps(answer).encode()
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if answer is not None:
                self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = handle_any

    return Handler
