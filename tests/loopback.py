"""HTTP servers and bare listeners on 127.0.0.1 for the tests: what a fetch meets, good or bad."""

from __future__ import annotations

import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from services.core.fetch import FetchPolicy

Route = Callable[[BaseHTTPRequestHandler], None]
# What a fetch may reach in these tests: these servers, with small limits for the slow cases.
LOCAL = FetchPolicy(
    allow_hosts=frozenset({"127.0.0.1"}), connect_timeout=1.0, total_timeout=2.0, max_bytes=1024
)


@contextmanager
def serve(route: Route, tls: ssl.SSLContext | None = None) -> Iterator[int]:
    """An HTTP(S) server on loopback answering every GET and POST with `route`; yields its
    port."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            # The client gives up on purpose in several tests.
            with suppress(OSError):
                route(self)

        do_POST = do_GET

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    # A short poll interval: shutdown() waits for it, and every test starts a server.
    threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True).start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()


def answer(body: bytes, content_type: str = "text/plain", status: int = 200) -> Route:
    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return route


Received = list[tuple[dict[str, str], bytes]]


def receive(received: Received, status: int = 200) -> Route:
    """Keeps each request's headers and body in `received`, and answers `status`."""

    def route(handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers.get("Content-Length", 0)))
        received.append((dict(handler.headers.items()), body))
        answer(b"", status=status)(handler)

    return route


def redirect(location: str) -> Route:
    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(302)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return route


def drip(before: bytes, drops: int) -> Route:
    """Sends `before`, then one byte every 50 ms: a slow server, or a hostile one."""

    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.wfile.write(before)
        handler.wfile.flush()
        for _ in range(drops):
            time.sleep(0.05)
            handler.wfile.write(b"x")
            handler.wfile.flush()

    return route


class Listener:
    """A bare TCP listener that is never accepted from: a connection attempt stays visible."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port: int = self.sock.getsockname()[1]

    def contacted(self) -> bool:
        return bool(select.select([self.sock], [], [], 0.05)[0])
