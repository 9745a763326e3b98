"""DEBUG lines on the `beta_middleware` logger: one per request a layer touches, saying why."""

from __future__ import annotations

import logging
from typing import Any

import anthropic
import httpx
import httpx2
import pytest
import requests
import responses

import beta_middleware.httpx as ours_httpx
import beta_middleware.httpx2 as ours_httpx2
from beta_middleware import HEADER, betas, install
from beta_middleware.anthropic import BetaMiddleware
from beta_middleware.requests import BetaAdapter

from .messages_server import MessagesServer

API = "https://api.anthropic.com/v1/messages"
OWN, FIXED, SCOPE = "own-2025-01-01", "fixed-2025-01-01", "scope-2025-01-01"


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "beta_middleware" and r.levelno == logging.DEBUG
    ]


def echo(stack: Any) -> Any:
    return stack.MockTransport(lambda request: stack.Response(200, json={}))


@pytest.mark.parametrize(("stack", "integration"), [(httpx, ours_httpx), (httpx2, ours_httpx2)])
def test_a_transport_says_what_it_sent_and_where_each_name_came_from(
    caplog: pytest.LogCaptureFixture, stack: Any, integration: Any
) -> None:
    transport = integration.BetaTransport(echo(stack), betas=FIXED, hosts="*.anthropic.com")
    client = stack.Client(transport=transport)
    with caplog.at_level(logging.DEBUG, logger="beta_middleware"), betas(SCOPE):
        client.get(API, headers={HEADER: OWN})
        client.get("https://example.com/")
    assert lines(caplog) == [
        f"BetaTransport(... to api.anthropic.com: anthropic-beta: {OWN},{FIXED},{SCOPE} "
        f"[{OWN} (the caller's); {FIXED} (betas=); {SCOPE} (the scope)]".replace(
            "BetaTransport(...", repr(transport)
        ),
        f"{transport!r} to example.com: outside hosts=: nothing added",
    ]


def test_nothing_is_logged_below_debug(caplog: pytest.LogCaptureFixture) -> None:
    client = httpx2.Client(transport=ours_httpx2.BetaTransport(echo(httpx2)))
    with caplog.at_level(logging.INFO, logger="beta_middleware"), betas(SCOPE):
        client.get(API)
    assert caplog.records == []


@responses.activate
def test_an_adapter_says_what_it_sent(caplog: pytest.LogCaptureFixture) -> None:
    responses.add(responses.GET, API, json={})
    responses.add(responses.GET, "https://example.com/", json={})
    session = requests.Session()
    adapter = BetaAdapter(betas=FIXED, hosts="api.anthropic.com")
    session.mount("https://", adapter)
    with caplog.at_level(logging.DEBUG, logger="beta_middleware"), betas(SCOPE):
        session.get(API)
        session.get("https://example.com/")
    assert lines(caplog) == [
        f"{adapter!r} to api.anthropic.com: anthropic-beta: {FIXED},{SCOPE} "
        f"[{FIXED} (betas=); {SCOPE} (the scope)]",
        f"{adapter!r} to example.com: outside hosts=: nothing added",
    ]


def test_a_layer_below_another_says_what_came_from_above(caplog: pytest.LogCaptureFixture) -> None:
    inner = ours_httpx2.BetaTransport(echo(httpx2), betas=FIXED)
    outer = ours_httpx2.BetaTransport(inner)
    client = httpx2.Client(transport=outer)
    with caplog.at_level(logging.DEBUG, logger="beta_middleware"), betas(SCOPE):
        client.get(API)
    assert lines(caplog) == [
        f"{outer!r} to api.anthropic.com: anthropic-beta: {SCOPE} [{SCOPE} (the scope)]",
        f"{inner!r} to api.anthropic.com: anthropic-beta: {SCOPE},{FIXED} "
        f"[{SCOPE} (from a layer above); {FIXED} (betas=)]",
    ]


def test_names_left_off_after_a_refusal_are_said(caplog: pytest.LogCaptureFixture) -> None:
    refusal = {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": f"Unsupported beta header: {FIXED}"},
    }

    def answer(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(400 if FIXED in request.headers.get(HEADER, "") else 200, json=refusal)

    transport = ours_httpx2.BetaTransport(httpx2.MockTransport(answer), betas=FIXED, drop_rejected=True)
    client = httpx2.Client(transport=transport)
    with betas(SCOPE):
        client.post(API, content=b"{}")
        with caplog.at_level(logging.DEBUG, logger="beta_middleware"):
            client.post(API, content=b"{}")
    assert lines(caplog) == [
        f"{transport!r} to api.anthropic.com: anthropic-beta: {SCOPE} "
        f"[{SCOPE} (the scope); left off after a refusal: {FIXED}]"
    ]


@pytest.mark.parametrize("installed", [False, True], ids=["explicit", "installed"])
def test_the_sdk_middleware_says_what_it_sent(
    caplog: pytest.LogCaptureFixture, messages_api: MessagesServer, installed: bool
) -> None:
    middleware = [] if installed else [BetaMiddleware(betas=FIXED)]
    client = anthropic.Anthropic(api_key="k", base_url=messages_api.url, middleware=middleware)
    installation = install(betas=FIXED, hosts="api.anthropic.com") if installed else None
    try:
        with caplog.at_level(logging.DEBUG, logger="beta_middleware"), betas(SCOPE):
            client.messages.create(
                model="m",
                max_tokens=1,
                messages=[{"role": "user", "content": "Hi"}],
                extra_headers={HEADER: OWN},
            )
    finally:
        if installation is not None:
            installation.uninstall()
        client.close()
    found = lines(caplog)
    assert found[0].endswith(
        f" to an SDK call (POST /v1/messages): anthropic-beta: {OWN},{FIXED},{SCOPE} "
        f"[{OWN} (the caller's); {FIXED} (betas=); {SCOPE} (the scope)]"
    )
    assert found[0].startswith("Installation(" if installed else "BetaMiddleware(")
    # installed: the HTTP stack's patch under it, outside its hosts, says so
    assert len(found) == 1 + installed
    if installed:
        assert found[1].startswith("Installation(")
        assert found[1].endswith(" to 127.0.0.1: outside hosts=: nothing added")


def test_a_request_sent_again_is_logged_at_each_send(caplog: pytest.LogCaptureFixture) -> None:
    transport = ours_httpx2.BetaTransport(echo(httpx2))
    client = httpx2.Client(transport=transport)
    request = client.build_request("GET", API, headers={HEADER: OWN})
    with caplog.at_level(logging.DEBUG, logger="beta_middleware"):
        with betas(SCOPE):
            client.send(request)
        client.send(request)
    assert lines(caplog) == [
        f"{transport!r} to api.anthropic.com: anthropic-beta: {OWN},{SCOPE} "
        f"[{OWN} (the caller's); {SCOPE} (the scope)]",
        f"{transport!r} to api.anthropic.com: anthropic-beta: {OWN} [{OWN} (the caller's)]",
    ]


async def test_installed_httpx2_outside_the_hosts_says_so(caplog: pytest.LogCaptureFixture) -> None:
    with install(betas=FIXED, hosts="api.anthropic.com"):
        client = httpx2.AsyncClient(transport=echo(httpx2))
        with caplog.at_level(logging.DEBUG, logger="beta_middleware"):
            await client.get("https://example.com/")
            await client.aclose()
    [line] = lines(caplog)
    assert line.endswith(" to example.com: outside hosts=: nothing added")


@responses.activate
def test_installed_requests_says_what_it_and_an_adapter_below_sent(caplog: pytest.LogCaptureFixture) -> None:
    responses.add(responses.GET, API, json={})
    responses.add(responses.GET, "https://example.com/", json={})
    session = requests.Session()
    adapter = BetaAdapter(betas=FIXED)
    session.mount("https://", adapter)
    with install(hosts="api.anthropic.com"), betas(SCOPE):
        installed = session.get_adapter(API)
        other = requests.Request("GET", "https://example.com/").prepare()
        with caplog.at_level(logging.DEBUG, logger="beta_middleware"):
            session.get(API)
            session.get("https://example.com/")
            installed.send(other)  # an adapter asked for one URL, given another
    found = lines(caplog)
    assert found[0].endswith(f" to api.anthropic.com: anthropic-beta: {SCOPE} [{SCOPE} (the scope)]")
    assert found[1] == (
        f"{adapter!r} to api.anthropic.com: anthropic-beta: {SCOPE},{FIXED} "
        f"[{SCOPE} (from a layer above); {FIXED} (betas=)]"
    )
    assert found[2].endswith(" to example.com: outside hosts=: nothing added")
    sent = f"anthropic-beta: {FIXED},{SCOPE} [{FIXED} (betas=); {SCOPE} (the scope)]"
    assert found[3] == f"{adapter!r} to example.com: {sent}"
    assert found[4] == found[2]  # the adapter asked for the API's URL, given another
    assert found[5] == found[3]
    assert len(found) == 6
    assert found[0].startswith("Installation(betas=[], hosts=['api.anthropic.com']")


async def test_the_sdk_middleware_under_the_installed_one_says_so(
    caplog: pytest.LogCaptureFixture, messages_api: MessagesServer
) -> None:
    middleware = BetaMiddleware(betas=FIXED)
    client = anthropic.AsyncAnthropic(api_key="k", base_url=messages_api.url, middleware=[middleware])
    ask: Any = [{"role": "user", "content": "Hi"}]
    with install(hosts="api.anthropic.com"), betas(SCOPE):
        with caplog.at_level(logging.DEBUG, logger="beta_middleware"):
            await client.messages.create(model="m", max_tokens=1, messages=ask)
        await client.close()
    found = lines(caplog)
    assert found[0].endswith(
        f" to an SDK call (POST /v1/messages): anthropic-beta: {SCOPE} [{SCOPE} (the scope)]"
    )
    assert found[1] == (
        f"{middleware!r} to an SDK call (POST /v1/messages): anthropic-beta: {SCOPE},{FIXED} "
        f"[{SCOPE} (from a layer above); {FIXED} (betas=)]"
    )


def test_the_memo_read_first_follows_every_change_of_level(caplog: pytest.LogCaptureFixture) -> None:
    # The hot paths read logging's memo of `isEnabledFor` (`Logger._cache`, checked on
    # Python 3.10 to 3.13) before calling it: a level set later, on our logger or on the
    # root, must still turn the lines on and off.
    client = httpx2.Client(transport=ours_httpx2.BetaTransport(echo(httpx2)))
    logger = logging.getLogger("beta_middleware")
    with betas(SCOPE):
        for level, root, expected in [
            (None, logging.WARNING, 0),
            (logging.DEBUG, logging.WARNING, 1),
            (logging.INFO, logging.WARNING, 0),
            (None, logging.DEBUG, 1),
            (None, logging.WARNING, 0),
        ]:
            before = logger.level, logging.root.level
            logger.setLevel(level or logging.NOTSET)
            logging.root.setLevel(root)
            caplog.clear()
            try:
                client.get(API)
            finally:
                logger.setLevel(before[0])
                logging.root.setLevel(before[1])
            assert len(lines(caplog)) == expected, (level, root)
