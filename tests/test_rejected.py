from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import anthropic
import httpx
import httpx2
import pytest
import requests
import responses

from beta_middleware import HEADER, UnsupportedBetaError, raise_for_betas, rejected_betas
from beta_middleware._core.rejected import parse

from .server import REJECTIONS, Server

A, B = "files-api-2025-04-14", "context-1m-2025-08-07"
UNEXPECTED = (
    f"Unexpected value(s) `{A}`, `{B}` for the `anthropic-beta` header. "
    "Please consult our documentation at docs.claude.com or try again without the header."
)


def error_body(message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": "invalid_request_error", "message": message}}


DOCUMENTED = error_body(f"Unsupported beta header: {A}")
BEDROCK = {"message": "invalid beta flag"}

# shape -> (body, names the API refused)
SHAPES: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "unsupported": (DOCUMENTED, (A,)),
    "unexpected": (error_body(UNEXPECTED), (A, B)),
    "bedrock": (BEDROCK, ()),
}


@pytest.mark.parametrize(
    ("message", "names"),
    [
        (f"Unsupported beta header: {A}", (A,)),
        (f"unsupported beta header: {A}, {B}", (A, B)),
        (f"Unsupported beta header: `{A}`.", (A,)),
        (UNEXPECTED, (A, B)),
        (f"Unexpected value `{A}` for the `anthropic-beta` header.", (A,)),
        (f"Unexpected values {A}, {B} for the anthropic-beta header", (A, B)),
        ("invalid beta flag", ()),
        ("ValidationException: Invalid beta flag", ()),
        (f"Unsupported beta header: {A}, , !?, {B}", (A, B)),  # pieces that are no names are left out
    ],
)
def test_parse_message_shapes(message: str, names: tuple[str, ...]) -> None:
    assert parse(message) == names


@pytest.mark.parametrize("message", ["Overloaded", "Unexpected value for the `model` field", ""])
def test_parse_other_messages(message: str) -> None:
    assert parse(message) is None


# The names' end is `for the`, blanks, `anthropic-beta` (backticks optional), blanks and
# `header`: each piece missing in turn is no end, and a later whole one still is.
@pytest.mark.parametrize(
    "end",
    [
        "for theanthropic-beta header",
        "for the model header",
        "for the anthropic-betaheader",
        "for the anthropic-beta",
        "for the anthropic-beta field",
    ],
)
def test_parse_needs_the_whole_end(end: str) -> None:
    assert parse(f"Unexpected value `{A}` {end}") is None
    assert parse(f"Unexpected value `{A}` {end}; for the anthropic-beta header") == (A,)


@pytest.mark.parametrize("shape", SHAPES)
def test_bodies_in_every_form(shape: str) -> None:
    body, names = SHAPES[shape]
    text = json.dumps(body)
    for form in (body, text, text.encode(), bytearray(text.encode()), memoryview(text.encode())):
        assert rejected_betas(form) == names
        error = UnsupportedBetaError.from_response(form)
        assert error is not None
        assert (error.betas, error.status_code) == (names, None)


def test_plain_text_bodies() -> None:
    assert rejected_betas(json.dumps(f"Unsupported beta header: {A}")) == (A,)  # a JSON string
    assert rejected_betas(f"Unsupported beta header: {A}") == (A,)
    assert rejected_betas(b"An error occurred (ValidationException): invalid beta flag") == ()
    assert UnsupportedBetaError.from_response("invalid beta flag") is not None


@pytest.mark.parametrize(
    "body",
    [
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
        {"content": [{"type": "text", "text": f"Unsupported beta header: {A}"}]},  # quoted, not an error
        {"error": "no message"},
        [1, 2],
        "",
        b"null",
        "not json at all",
    ],
)
def test_not_a_rejection(body: object) -> None:
    assert rejected_betas(body) == ()
    assert UnsupportedBetaError.from_response(body) is None


@pytest.mark.parametrize("obj", [None, 400, object()])
@pytest.mark.parametrize("sdk_imported", [True, False])
def test_unsupported_objects_are_refused(
    obj: object, sdk_imported: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not sdk_imported:
        monkeypatch.delitem(sys.modules, "anthropic")
    with pytest.raises(TypeError, match="expected a requests/httpx/httpx2 Response"):
        rejected_betas(obj)


def test_error_attributes() -> None:
    error = UnsupportedBetaError.from_response(httpx.Response(400, json=SHAPES["unexpected"][0]))
    assert error is not None
    assert error.betas == (A, B)
    assert error.status_code == 400
    assert error.message == UNEXPECTED
    assert str(error) == UNEXPECTED
    assert repr(error) == f"UnsupportedBetaError({UNEXPECTED!r}, betas=({A!r}, {B!r}), status_code=400)"


def test_success_quoting_the_message_is_no_rejection() -> None:
    assert rejected_betas(httpx.Response(200, json=DOCUMENTED)) == ()
    assert rejected_betas(httpx2.Response(500, json=DOCUMENTED)) == ()
    assert rejected_betas(httpx2.Response(422, json=DOCUMENTED)) == (A,)


def test_raise_for_betas() -> None:
    ok = httpx.Response(200, json={"id": "msg"})
    assert raise_for_betas(ok) is ok
    with pytest.raises(UnsupportedBetaError) as caught:
        raise_for_betas(httpx.Response(400, json=DOCUMENTED))
    assert caught.value.betas == (A,)
    with pytest.raises(UnsupportedBetaError) as bedrock:
        raise_for_betas(BEDROCK)
    assert (bedrock.value.betas, bedrock.value.message) == ((), "invalid beta flag")


# Each shape through each stack: `responses` for requests, MockTransport for httpx/httpx2.


@pytest.mark.parametrize("shape", SHAPES)
@responses.activate
def test_requests_with_responses(shape: str) -> None:
    body, names = SHAPES[shape]
    responses.post("https://api.anthropic.com/v1/messages", json=body, status=400)
    response = requests.post("https://api.anthropic.com/v1/messages", json={}, timeout=5)
    assert rejected_betas(response) == names
    error = UnsupportedBetaError.from_response(response)
    assert error is not None
    assert error.status_code == 400


@pytest.mark.parametrize("stack", [httpx, httpx2])
@pytest.mark.parametrize("shape", SHAPES)
def test_httpx_with_mock_transport(stack: Any, shape: str) -> None:
    body, names = SHAPES[shape]
    transport = stack.MockTransport(lambda request: stack.Response(400, json=body))
    with stack.Client(transport=transport) as client:
        response = client.post("https://api.anthropic.com/v1/messages", json={})
        assert rejected_betas(response) == names
        with client.stream("POST", "https://api.anthropic.com/v1/messages", json={}) as streamed:
            assert rejected_betas(streamed) == names  # a sync stream is read
            assert streamed.json() == body


@pytest.mark.parametrize("stack", [httpx, httpx2])
async def test_async_stream_must_be_read_first(stack: Any) -> None:
    class AsyncOnly(stack.AsyncByteStream):  # type: ignore[misc]
        async def __aiter__(self) -> Any:
            yield json.dumps(DOCUMENTED).encode()

    transport = stack.MockTransport(lambda request: stack.Response(400, stream=AsyncOnly()))
    async with (
        stack.AsyncClient(transport=transport) as client,
        client.stream("POST", "https://api.anthropic.com/v1/messages") as streamed,
    ):
        with pytest.raises(TypeError, match=r"await response\.aread\(\)"):
            rejected_betas(streamed)
        await streamed.aread()
        assert rejected_betas(streamed) == (A,)


# ... and through the loopback server, for every stack and the anthropic SDK.


def _get(stack: Any) -> Callable[[str, dict[str, str]], Any]:
    if stack is requests:
        return lambda url, headers: requests.get(url, headers=headers, timeout=10)
    return lambda url, headers: stack.get(url, headers=headers, timeout=10)


@pytest.mark.parametrize("stack", [requests, httpx, httpx2])
@pytest.mark.parametrize("shape", SHAPES)
def test_loopback_shapes(server: Server, stack: Any, shape: str) -> None:
    names = {"unsupported": (A,), "unexpected": (A, B), "bedrock": ()}[shape]
    url = server.url_for(f"/reject/{shape}?betas={A},{B}")
    response = _get(stack)(url, {HEADER: f"{A},{B}"})
    assert response.status_code == 400
    assert rejected_betas(response) == names
    error = UnsupportedBetaError.from_response(response)
    assert error is not None
    assert (error.betas, error.status_code) == (names, 400)
    fine = _get(stack)(url, {HEADER: "other-2025-01-01"})
    assert fine.status_code == 200
    assert UnsupportedBetaError.from_response(fine) is None


def test_server_shapes_match_the_ones_tested_here() -> None:
    assert set(REJECTIONS) == set(SHAPES)


@pytest.mark.parametrize("shape", SHAPES)
def test_anthropic_api_status_error(server: Server, shape: str) -> None:
    names = {"unsupported": (A,), "unexpected": (A, B), "bedrock": ()}[shape]
    client = anthropic.Anthropic(api_key="test", base_url=server.url_for(f"/reject/{shape}"), max_retries=0)
    with client, pytest.raises(anthropic.BadRequestError) as caught:
        client.beta.messages.create(
            model="claude-test",
            max_tokens=1,
            messages=[{"role": "user", "content": "hi"}],
            betas=[A, B],
            extra_query={"betas": f"{A},{B}"},
        )
    assert rejected_betas(caught.value) == names
    error = UnsupportedBetaError.from_response(caught.value)
    assert error is not None
    assert (error.betas, error.status_code) == (names, 400)


def test_anthropic_api_response_in_a_middleware(server: Server) -> None:
    seen: list[tuple[str, ...]] = []

    def record(request: Any, call_next: Any) -> Any:
        response = call_next(request)
        seen.append(rejected_betas(response))
        return response

    client = anthropic.Anthropic(
        api_key="test", base_url=server.url_for("/reject/unsupported"), max_retries=0, middleware=[record]
    )
    with client, pytest.raises(anthropic.BadRequestError):
        client.beta.messages.create(
            model="claude-test",
            max_tokens=1,
            messages=[{"role": "user", "content": "hi"}],
            betas=[A],
            extra_query={"betas": A},
        )
    assert seen == [(A,)]


# Hostile bodies: parsing is linear in the message, and deep nesting is no rejection.


@pytest.mark.parametrize("end", ["\n", "\r\n", "\r"])
def test_the_unsupported_names_end_with_their_line(end: str) -> None:
    assert parse(f"Unsupported beta header: {A}, {B}{end}then x-2025-01-01, more") == (A, B)
    # blanks after the colon, line breaks too, come before the names
    assert parse(f"Unsupported beta header:{end}  {A}{end}") == (A,)


def work(message: str) -> int:
    """The lines of the parser's module run to parse `message`: its work, counted, not timed.

    Its patterns (`\\s*`, `[^\\r\\n]*`, a backtick-quoted run) cannot backtrack, so the
    Python lines that drive them measure the whole parse.
    """
    from beta_middleware._core import rejected

    count = 0

    def local(frame: Any, event: str, arg: object) -> Any:
        nonlocal count
        if event == "line":
            count += 1
        return local

    def calls(frame: Any, event: str, arg: object) -> Any:
        return local if frame.f_code.co_filename == rejected.__file__ else None

    previous = sys.gettrace()
    sys.settrace(calls)
    try:
        parse(message)
    finally:
        sys.settrace(previous)
    return count


# Messages that made the backtracking regexes take quadratic or cubic time; `n` is a size.
HOSTILE: dict[str, Callable[[int], str]] = {
    "issue": lambda n: "unexpected value " + " " * n + "x",
    "blank runs": lambda n: "Unexpected value(s) " + " \t\n" * n + "for the" + " " * n + "x",
    "many starts": lambda n: "unexpected value x " * n,
    "many ends": lambda n: "unexpected values " + "for the  anthropic-beta " * n,
    "ends without header": lambda n: "Unexpected value(s) `a` " + "for the `anthropic-beta`   " * n,
    "unterminated backtick": lambda n: "unexpected value `" + "a" * n + " for the anthropic-beta header",
    "backticks": lambda n: "unexpected value " + "`" * n + " for the `anthropic-beta` header",
    "no colon": lambda n: "Unsupported beta header" + " " * n + "x",
    "many headers": lambda n: "unsupported beta headers " * n,
    "long list": lambda n: "Unsupported beta header: " + "a, " * n,
    "commas": lambda n: "unexpected value " + "," * n + " for the anthropic-beta header",
}


@pytest.mark.parametrize("shape", HOSTILE)
def test_parsing_work_is_linear(shape: str) -> None:
    make = HOSTILE[shape]
    small, large = make(5_000), make(50_000)
    # 10x the input: at most about 10x the work, where a quadratic parse does about 100x
    assert work(large) <= 12 * work(small) + 50


@pytest.mark.parametrize("shape", HOSTILE)
def test_hostile_messages_at_the_read_limit(shape: str) -> None:
    # 64 KiB, the most a response is read for: the old regexes would not finish
    message = HOSTILE[shape](1 << 16)[: 1 << 16]
    assert parse(message) in (None, ("a",), ())
    body = json.dumps(error_body(message)).encode()
    while len(body) > 1 << 16:  # a response is read for 64 KiB at most
        message = message[: len(message) - (len(body) - (1 << 16))]
        body = json.dumps(error_body(message)).encode()
    names = parse(message)
    expected = None if names is None else UnsupportedBetaError(message, betas=names, status_code=400)
    got = UnsupportedBetaError.from_response(httpx.Response(400, content=body))
    assert repr(got) == repr(expected)


DEEP = 100_000


@pytest.mark.parametrize(
    "body",
    [
        "[" * DEEP + "]" * DEEP,
        '{"error":' * DEEP + '"x"' + "}" * DEEP,
        '{"error": {"message": "Unsupported beta header: a", "x": ' + "[" * DEEP + "]" * DEEP + "}}",
        "[" * DEEP,  # not even closed
    ],
    ids=["lists", "objects", "deep-in-a-rejection", "unclosed"],
)
def test_deeply_nested_bodies_are_no_rejection(body: str) -> None:
    for form in (body, body.encode(), httpx.Response(400, text=body), httpx2.Response(400, text=body)):
        assert rejected_betas(form) == ()
        assert UnsupportedBetaError.from_response(form) is None


LIMIT = 64 * 1024


@pytest.mark.parametrize("size", [0, LIMIT, LIMIT + 1], ids=["small", "at", "over"])
@responses.activate
def test_a_response_body_over_64_kib_is_no_rejection(size: int) -> None:
    head = json.dumps(DOCUMENTED).encode()
    body = head.ljust(size)  # blanks after the JSON: valid, and a rejection if read whole
    responses.post("https://api.anthropic.com/v1/messages", body=body, status=400)
    names = (A,) if size <= LIMIT else ()
    assert rejected_betas(requests.post("https://api.anthropic.com/v1/messages", timeout=5)) == names
    for stack in (httpx, httpx2):
        assert rejected_betas(stack.Response(400, content=body)) == names
        error = UnsupportedBetaError.from_response(stack.Response(400, content=body))
        assert (error is None) is (size > LIMIT)
    assert rejected_betas(body) == (A,)  # a body given as such is parsed whole: it is what the caller has
