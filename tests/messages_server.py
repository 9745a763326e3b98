"""A loopback server on 127.0.0.1 that answers like the Anthropic Messages API.

`POST /v1/messages` (and `?beta=true`) answers a valid `Message` whose text is the
`anthropic-beta` value the server received (`(none)` without one), or, for
`"stream": true`, the same message as server-sent events sent one chunk per event.
A request with `tools` gets a `tool_use` block of the first tool: streamed, its input
arrives in two JSON deltas, `{"city": "Par` then `is"}`, so that the SDK's partial-JSON
handling can be observed; not streamed, it is `{"city": <the anthropic-beta value>}`.

`POST /v1/messages/count_tokens` answers `{"input_tokens": 3}`.

A request carrying a name of `MessagesServer.refuse` gets the API's 400 `Unsupported beta
header: NAME` (a set the test fills, for clients whose headers a test cannot choose).

Test controls, sent as request headers:
- `x-test-fail: N` with `x-test-key: KEY`: the first N requests for KEY get a 529
  `overloaded_error` with `retry-after-ms: 1` (so the SDK retries at once).
- `x-test-status: CODE`: answer an Anthropic-style error with that status, no retry.

Every request is recorded in `MessagesServer.received`, in arrival order.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HEADER = "anthropic-beta"
NO_HEADER = "(none)"
MODEL = "claude-test-1"


@dataclass(frozen=True)
class Call:
    path: str
    beta: str | None  # every anthropic-beta line received, joined by ","
    retry_count: str | None  # the SDK's x-stainless-retry-count
    body: dict[str, Any]


@dataclass
class MessagesServer:
    url: str
    received: list[Call] = field(default_factory=list)
    attempts: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    lock: threading.Lock = field(default_factory=threading.Lock)
    ids: Iterator[int] = field(default_factory=lambda: iter(range(1, 1_000_000)))
    refuse: set[str] = field(default_factory=set)

    @property
    def betas(self) -> list[str | None]:
        return [call.beta for call in self.received]


def message(
    msg_id: str, text: str, *, stop_reason: str | None = "end_turn", tool: str | None = None
) -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"type": "text", "text": text}] if stop_reason else []
    if tool and stop_reason:  # the tool's input carries the received value, as the text would
        content = [{"type": "tool_use", "id": "toolu_1", "name": tool, "input": {"city": text}}]
        stop_reason = "tool_use"
    return {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": 3, "output_tokens": 1 if stop_reason else 0},
    }


def events(msg_id: str, text: str, tool: str | None) -> list[dict[str, Any]]:
    """The server-sent events of one streamed message, in the API's order."""
    start = message(msg_id, "", stop_reason=None)
    if tool:
        block: dict[str, Any] = {"type": "tool_use", "id": "toolu_1", "name": tool, "input": {}}
        deltas = [{"type": "input_json_delta", "partial_json": part} for part in ('{"city": "Par', 'is"}')]
        stop = "tool_use"
    else:
        block = {"type": "text", "text": ""}
        half = len(text) // 2
        deltas = [{"type": "text_delta", "text": part} for part in (text[:half], text[half:])]
        stop = "end_turn"
    return [
        {"type": "message_start", "message": start},
        {"type": "content_block_start", "index": 0, "content_block": block},
        {"type": "ping"},
        *({"type": "content_block_delta", "index": 0, "delta": delta} for delta in deltas),
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": None},
            "usage": {"output_tokens": 2},
        },
        {"type": "message_stop"},
    ]


def _tool(body: dict[str, Any]) -> str | None:
    tools = body.get("tools") or []
    return str(tools[0].get("name") or "weather") if tools else None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = -1  # one write per response (flushed after each): no Nagle/delayed-ACK stalls
    server: Any

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send_json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        for name, value in {"content-type": "application/json", **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, kind: str, headers: dict[str, str] | None = None) -> None:
        payload = {"type": "error", "error": {"type": kind, "message": f"test {kind}"}}
        self._send_json(status, payload, headers)

    def do_POST(self) -> None:
        state: MessagesServer = self.server.state
        body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
        lines = self.headers.get_all(HEADER) or []
        beta = ",".join(lines) if lines else None
        state.received.append(Call(self.path, beta, self.headers.get("x-stainless-retry-count"), body))
        with state.lock:
            msg_id = f"msg_{next(state.ids):06d}"
            key = self.headers.get("x-test-key", "")
            state.attempts[key] += 1
            attempt = state.attempts[key]
        refused = [name for name in (beta or "").split(",") if name in state.refuse]
        if refused:
            why = f"Unsupported beta header: {refused[0]}"
            self._send_json(
                400, {"type": "error", "error": {"type": "invalid_request_error", "message": why}}
            )
        elif attempt <= int(self.headers.get("x-test-fail", "0")):
            self._error(529, "overloaded_error", {"retry-after-ms": "1"})
        elif status := int(self.headers.get("x-test-status", "0")):
            kind = "invalid_request_error" if status < 500 else "api_error"
            self._error(status, kind, {"x-should-retry": "false", "x-test-origin": "messages-server"})
        elif self.path.split("?")[0].endswith("/count_tokens"):
            self._send_json(200, {"input_tokens": 3})
        elif body.get("stream"):
            self._stream(events(msg_id, beta or NO_HEADER, _tool(body)))
        else:
            reply = message(msg_id, beta or NO_HEADER, tool=_tool(body))
            self._send_json(200, reply, {"request-id": msg_id})

    def _stream(self, items: list[dict[str, Any]]) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        for item in items:
            data = f"event: {item['type']}\ndata: {json.dumps(item)}\n\n".encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512  # hundreds of clients connect at once in the concurrency tests


def start() -> tuple[MessagesServer, ThreadingHTTPServer, threading.Thread]:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    state = MessagesServer(url=f"http://127.0.0.1:{httpd.server_address[1]}")
    httpd.state = state  # type: ignore[attr-defined]
    # A short poll keeps shutdown() quick: every test starts and stops a server.
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    return state, httpd, thread
