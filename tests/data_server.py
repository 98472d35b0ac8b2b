"""A local HTTP server for download tests: files from memory, HTTP Range, failures on demand.

Never a real host: it binds 127.0.0.1 on a free port, in a thread.
"""

from __future__ import annotations

import hashlib
import http.server
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Behaviour:
    files: dict[str, bytes] = field(default_factory=dict)
    """URL path (``/tiny/a.bin``) -> content."""
    drop_after: dict[str, int] = field(default_factory=dict)
    """Path -> bytes after which the first full request's connection is cut."""
    delay: float = 0.0
    """Seconds to sleep between 4 KiB chunks (to cancel mid-download)."""
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    """Every request: (path, Range header)."""


def make_handler(b: Behaviour) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            rng = self.headers.get("Range")
            b.requests.append((self.path, rng))
            body = b.files.get(self.path)
            if body is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            start = 0
            if rng and rng.startswith("bytes="):
                start = int(rng[6:].split("-")[0])
                if start >= len(body):
                    self.send_response(416)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            part = body[start:]
            self.send_header("Content-Length", str(len(part)))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            cut = b.drop_after.pop(self.path, None) if start == 0 else None
            sent = 0
            try:
                for i in range(0, len(part), 4096):
                    chunk = part[i : i + 4096]
                    if cut is not None and sent + len(chunk) > cut:
                        self.wfile.write(chunk[: cut - sent])
                        self.wfile.flush()
                        self.close_connection = True
                        return  # the client sees a short body: a dropped connection
                    self.wfile.write(chunk)
                    sent += len(chunk)
                    if b.delay:
                        time.sleep(b.delay)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

    return Handler


@contextmanager
def serve(b: Behaviour):
    """``with serve(behaviour) as base_url:`` a server on 127.0.0.1 for the block."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), make_handler(b))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def md5(data: bytes) -> str:
    return "md5:" + hashlib.md5(data).hexdigest()
