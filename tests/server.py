"""A real HTTP server on 127.0.0.1 that records what it receives.

Routes (any method):
- `/echo`: answers JSON `{"anthropic-beta": <received value or null>, "body": <bytes read>}`.
- `/redirect?to=URL[&code=302]`: redirects to URL.
- `/chain/NETLOC/.../NETLOC[?code=302]`: redirects to `http://NETLOC/chain/...` for the first
  NETLOC (host or host:port), keeping the query; `/chain` alone echoes. One URL makes a
  chain of hops across host names: the server's own (`127.0.0.1`, `localhost`), or any
  name when the client uses the server as its HTTP proxy (see `Server.proxy`).
- `/fail/N/KEY`: answers 503 to the first N requests for KEY, then echoes.
- `/stream`: sends one chunk, then waits (at most 10 s) for `release` before the rest.
- `/reject/SHAPE?betas=a,b`: answers 400 with a beta rejection when the request carries
  any of the listed betas (SHAPE: `unsupported` names the first, `unexpected` all of
  them, `bedrock` none), else echoes; `&also=c,d` adds names to it that were not sent.
- `/hostile/KIND?betas=a&size=N`: to a request carrying `a` (else echoes), a 400 whose
  body starts with a rejection of `a` but is no rejection: `huge` (N blanks follow),
  `endless` (chunked: a MiB, then the rest of N bytes only after `release`), `gzip` (N
  blanks, gzip-compressed), `not-gzip` (said to be, but plain), `deep` (lists nested N
  deep, no rejection at all) or `cut` (N blanks said to follow, half of them sent before
  the connection is closed);
  `&cookie=1` sets a cookie. With N small, `huge` and `gzip` are rejections.
- `/v1/...`: a stand-in for the API: answers 400 `Unsupported beta header` when the request
  carries a name of `API_REFUSED`, else echoes.
"""

from __future__ import annotations

import functools
import json
import threading
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

HEADER = "anthropic-beta"


@dataclass
class Received:
    method: str
    path: str
    host: str
    beta: str | None
    betas: list[str]  # every anthropic-beta header line
    body: bytes


@dataclass
class Server:
    url: str
    port: int
    received: list[Received] = field(default_factory=list)
    attempts: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    release: threading.Event = field(default_factory=threading.Event)
    stream_finished: threading.Event = field(default_factory=threading.Event)
    closed_early: threading.Event = field(default_factory=threading.Event)

    def url_for(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    @property
    def proxy(self) -> str:
        """The server as an HTTP proxy: it answers a request for any host name itself."""
        return self.url

    def chain_url(self, netlocs: list[str], code: int = 302) -> str:
        """A URL at `netlocs[0]` whose answer redirects through the rest of `netlocs`, then echoes."""
        return f"http://{netlocs[0]}/{'/'.join(['chain', *netlocs[1:]])}?code={code}"

    @property
    def hops(self) -> list[tuple[str, str | None]]:
        """(host name, anthropic-beta value) of each request received, in order."""
        return [(r.host.split(":")[0], r.beta) for r in self.received]  # no IPv6 here

    @property
    def betas(self) -> list[str | None]:
        return [r.beta for r in self.received]


# Chains of redirect hops in and out of `hosts=["api.anthropic.com", "*.anthropic.com"]`,
# through the server as a proxy: `i` a host in them, `o` one outside.
IN, OUT = ("api.anthropic.com", "eu.anthropic.com"), ("other.example", "elsewhere.example")
CHAINS = ["io", "ioo", "ioi", "oio", "oii", "iooo", "ioio", "oiooi", "iiooii", "ooo"]


def chain_hosts(shape: str) -> list[str]:
    """Host names for a chain shape: `i` a host in `hosts=`, `o` one outside, alternating names."""
    return [(IN if c == "i" else OUT)[n % 2] for n, c in enumerate(shape)]


def expected_hops(shape: str, own: str | None, added: str) -> list[tuple[str, str | None]]:
    """What each hop of a chain should carry: `own` and `added` inside the hosts, `own` outside."""
    hosts = chain_hosts(shape)
    merged = f"{own},{added}" if own else added
    return [(h, merged if c == "i" else own) for h, c in zip(hosts, shape, strict=True)]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = -1  # one write per response (flushed after each): no Nagle/delayed-ACK stalls
    server: Any

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:  # then optional trailers, up to an empty line
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size + 2)[:size])
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _reply(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self) -> None:
        state: Server = self.server.state
        body = self._body()
        parts = urlsplit(self.path)
        beta_lines = self.headers.get_all(HEADER) or []
        state.received.append(
            Received(
                self.command,
                parts.path,
                self.headers.get("Host", ""),
                ",".join(beta_lines) if beta_lines else None,
                beta_lines,
                body,
            )
        )
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        segments = parts.path.strip("/").split("/")
        if segments[0] == "redirect":
            self._reply(int(query.get("code", 302)), {}, {"Location": query["to"]})
        elif segments[0] == "chain" and len(segments) > 1:
            rest = "/".join(segments[2:])
            location = f"http://{segments[1]}/chain{'/' if rest else ''}{rest}?{parts.query}"
            self._reply(int(query.get("code", 302)), {}, {"Location": location})
        elif segments[0] == "fail":
            key = segments[2]
            state.attempts[key] += 1
            if state.attempts[key] <= int(segments[1]):
                self._reply(503, {"error": "try again"}, {"Retry-After": "0"})
            else:
                self._echo(body)
        elif segments[0] == "reject" and (hit := _rejected(beta_lines, query.get("betas", ""))):
            also = [name for name in query.get("also", "").split(",") if name]  # named, never sent
            self._reply(400, *REJECTIONS[segments[1]](hit + also))
        elif segments[0] == "v1" and (hit := _rejected(beta_lines, ",".join(API_REFUSED))):
            self._reply(400, *REJECTIONS["unsupported"](hit))
        elif segments[0] == "hostile" and _rejected(beta_lines, query.get("betas", "")):
            self._hostile(segments[1], query)
        elif segments[0] == "stream":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self._chunk(b"first")
            state.release.wait(10)
            self._chunk(b"second")
            self._chunk(b"")
            state.stream_finished.set()
        else:
            self._echo(body)

    def _hostile(self, kind: str, query: dict[str, str]) -> None:
        """A 4xx body that is no rejection, though one starts it; see HOSTILE."""
        state: Server = self.server.state
        size = int(query.get("size", 1 << 20))
        rejection = json.dumps(_error(f"Unsupported beta header: {query.get('betas', '')}")).encode()
        headers: dict[str, str] = {"Content-Type": "application/json"}
        if kind == "deep":
            body: bytes | None = b"[" * size + b"]" * size
        elif kind == "gzip":
            body, headers["Content-Encoding"] = gzip_bomb(rejection, size), "gzip"
        elif kind == "not-gzip":
            body, headers["Content-Encoding"] = rejection, "gzip"
        else:
            body = None  # written a MiB at a time: `huge` with a length, `endless` chunked
        if query.get("cookie"):
            headers["Set-Cookie"] = f"seen={kind}; Path=/"
        self.send_response(400)
        for name, value in headers.items():
            self.send_header(name, value)
        if body is not None:
            self.send_header("Content-Length", str(len(body)))
        elif kind in ("huge", "cut"):
            self.send_header("Content-Length", str(len(rejection) + size))
        else:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            if body is not None:
                self.wfile.write(body)
            elif kind == "huge":
                self.wfile.write(rejection)
                for at in range(0, size, len(_MIB)):
                    self.wfile.write(_MIB[: size - at])
            elif kind == "cut":
                self.wfile.write(rejection + _MIB[: size // 2])
                self.close_connection = True  # the body breaks off
            else:
                self._chunk(rejection)
                for sent in range(0, size, len(_MIB)):
                    if sent == len(_MIB):  # the first MiB, then only when the test says so
                        state.release.wait(10)
                    self._chunk(_MIB)
                self._chunk(b"")
            self.wfile.flush()
        except OSError:  # the client closed the connection: it read what it wanted
            state.closed_early.set()
        state.stream_finished.set()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _echo(self, body: bytes) -> None:
        self._reply(200, {HEADER: self.headers.get(HEADER), "body": len(body)})

    do_GET = do_POST = do_PUT = do_DELETE = _handle  # noqa: N815 - the names http.server calls


# The betas the stand-in API refuses: a retired one and a typo.
API_REFUSED = ("retired-beta-2024-01-01", "files-api-2025-04-41")


def _rejected(lines: list[str], listed: str) -> list[str]:
    sent = [name.strip() for line in lines for name in line.split(",")]
    return [name for name in sent if name and name in listed.split(",")]


_MIB = b" " * (1 << 20)  # made once: writing it allocates nothing that memory checks would see


@functools.cache
def gzip_bomb(head: bytes, size: int) -> bytes:
    """`head` then `size` blanks, gzip-compressed (about 1,000 to 1)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [compressor.compress(head)]
    parts.extend(compressor.compress(_MIB[: size - at]) for at in range(0, size, len(_MIB)))
    return b"".join([*parts, compressor.flush()])


def _error(message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": "invalid_request_error", "message": message}}


# The three shapes of a beta rejection: the documented one, the API's, Bedrock's.
REJECTIONS: dict[str, Any] = {
    "unsupported": lambda names: (_error(f"Unsupported beta header: {names[0]}"),),
    "unexpected": lambda names: (
        _error(
            "Unexpected value(s) "
            + ", ".join(f"`{n}`" for n in names)
            + " for the `anthropic-beta` header. Please consult our documentation at docs.claude.com "
            "or try again without the header."
        ),
    ),
    "bedrock": lambda names: (
        {"message": "invalid beta flag"},
        {"x-amzn-ErrorType": "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/"},
    ),
}


def start() -> tuple[Server, ThreadingHTTPServer, threading.Thread]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    port = httpd.server_address[1]
    state = Server(url=f"http://127.0.0.1:{port}", port=port)
    httpd.state = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    return state, httpd, thread
