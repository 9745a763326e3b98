"""`install()` over the anthropic SDK, on whichever SDK line is installed.

tests/test_install.py covers every stack on the main line; this module also runs in the
anthropic 0.x environments (marked `anthropic0` there), where the SDK runs its chain in
`request`, not `_request`, and sends on httpx.
"""

from __future__ import annotations

import warnings

import anthropic
import pytest
from anthropic._base_client import AsyncAPIClient, BaseClient, SyncAPIClient

from beta_middleware import HEADER, betas, install

from .sdk_cases import LINE_MARKS, STACK
from .server import Server

pytestmark = LINE_MARKS

# hosts the server is not on: only the SDK patch, not the HTTP stack's, can add betas
ELSEWHERE = ("api.anthropic.com",)
ABSENT = object()


def test_the_sdk_patch_applies_and_uninstall_restores_the_very_objects() -> None:
    patched = [
        (BaseClient, "_middleware"),
        (BaseClient, "middleware"),
        (SyncAPIClient, "_middleware_chain"),
        (AsyncAPIClient, "_middleware_chain"),
        # the SDK was imported first (above): what builds a chain for a client built before
        (SyncAPIClient, "_beta_middleware_chain"),
        (AsyncAPIClient, "_beta_middleware_chain"),
    ]
    per_call = [
        (c, "_request" if "_request" in c.__dict__ else "request") for c in (SyncAPIClient, AsyncAPIClient)
    ]
    before = [c.__dict__.get(name, ABSENT) for c, name in patched + per_call]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a patch that fails warns: that would fail here
        installation = install(betas="i", hosts=ELSEWHERE)
    try:
        during = [c.__dict__.get(name, ABSENT) for c, name in patched + per_call]
        assert all(d is not b for d, b in zip(during[: len(patched)], before, strict=False))
        assert during[len(patched) :] == before[len(patched) :]  # what runs per call is the SDK's own
    finally:
        installation.uninstall()
    after = [c.__dict__.get(name, ABSENT) for c, name in patched + per_call]
    assert all(a is b for a, b in zip(after, before, strict=True))


def test_a_client_built_before_sends_the_betas_merged_once(server: Server) -> None:
    client = anthropic.Anthropic(api_key="test-key", base_url=server.url)
    with install(betas="i", hosts=ELSEWHERE), betas("a"):
        response = client.post("/echo", cast_to=STACK.Response, body={}, options={"headers": {HEADER: "c,a"}})
    assert response.json()[HEADER] == "c,a,i"
    client.post("/echo", cast_to=STACK.Response, body={})  # uninstalled: as if never installed
    assert [r.beta for r in server.received] == ["c,a,i", None]


async def test_an_async_client_built_after_sends_the_betas(server: Server) -> None:
    with install(betas="i", hosts=ELSEWHERE):
        client = anthropic.AsyncAnthropic(api_key="test-key", base_url=server.url)
        async with client, betas("a"):
            response = await client.post("/echo", cast_to=STACK.Response, body={})
    assert response.json()[HEADER] == "i,a"


@pytest.mark.usefixtures("aws_env")
def test_bedrock_gets_them_in_the_signed_body(server: Server) -> None:
    import json

    client = anthropic.AnthropicBedrock(
        aws_access_key="AKIDEXAMPLE", aws_secret_key="secret", aws_region="us-east-1", base_url=server.url
    )
    with install(betas="i", hosts=ELSEWHERE), client, betas("a"):
        client.messages.with_raw_response.create(
            model="claude-test", max_tokens=1, messages=[{"role": "user", "content": "hi"}]
        )
    (received,) = server.received
    assert json.loads(received.body)["anthropic_beta"] == ["i", "a"]


def test_each_client_builds_its_chain_once_and_uninstall_takes_it_off(server: Server) -> None:
    import copy

    from beta_middleware._install.anthropic import _MARK
    from beta_middleware.anthropic import _chain_client

    client = anthropic.Anthropic(api_key="test-key", base_url=server.url)  # before: the SDK's chain, none
    twin = copy.copy(client)  # shares the client's __dict__ entries, not its chain
    chains = []
    with install(hosts=ELSEWHERE) as installation, betas("a"):
        for sender in (client, client, twin, client):
            response = sender.post("/echo", cast_to=STACK.Response, body={})
            assert response.json()[HEADER] == "a"
            chains.append(sender._middleware_chain)
        built = anthropic.Anthropic(api_key="test-key", base_url=server.url)  # while installed
        assert built.post("/echo", cast_to=STACK.Response, body={}).json()[HEADER] == "a"
        stray = copy.copy(built)  # holds the chain with ours, where uninstall() cannot see it
        assert client.middleware == built.middleware == ()  # the public view: the client's own
        assert [type(m).__name__ for m in built._middleware] == ["BetaMiddleware"]
        assert "anthropic" in installation.imported_before
    assert chains[0] is chains[1] is chains[3]
    assert chains[2] is not chains[0]
    assert _chain_client(chains[0]) is client
    assert _chain_client(chains[2]) is twin
    for sender in (client, twin, built):  # as before the installation: no chain, nothing noted
        assert sender._middleware_chain is None
        assert _MARK not in sender.__dict__
        sender.post("/echo", cast_to=STACK.Response, body={})
    with betas("a"):
        stray.post("/echo", cast_to=STACK.Response, body={})  # ours is in its chain, and does nothing
    assert [r.beta for r in server.received] == ["a"] * 5 + [None] * 4


def test_a_copy_made_while_installed_sends_the_betas_through_the_chain_it_copied(server: Server) -> None:
    import copy

    with install(hosts=ELSEWHERE), betas("a"):
        client = anthropic.Anthropic(api_key="test-key", base_url=server.url)
        twin = copy.copy(client)  # its __dict__, chain included, as the SDK's own copy.copy gives
        assert twin._middleware_chain is client._middleware_chain
        twin.post("/echo", cast_to=STACK.Response, body={})
    twin.post("/echo", cast_to=STACK.Response, body={})
    assert [r.beta for r in server.received] == ["a", None]


def test_a_chain_built_before_install_and_stored_after_is_not_taken(server: Server) -> None:
    # as a constructor on another thread does when install() patches the SDK in between
    client = anthropic.Anthropic(api_key="test-key", base_url=server.url)
    built_before = client._build_middleware_chain()  # without the installation's middleware
    with install(hosts=ELSEWHERE), betas("a"):
        client._middleware_chain = built_before
        assert client._middleware_chain is not built_before
        client.post("/echo", cast_to=STACK.Response, body={})
    assert [r.beta for r in server.received] == ["a"]


async def test_an_async_chain_kept_past_uninstall_sends_without_betas(server: Server) -> None:
    import copy

    with install(betas="i", hosts=ELSEWHERE):
        client = anthropic.AsyncAnthropic(api_key="test-key", base_url=server.url)
        stray = copy.copy(client)  # holds the chain with ours, where uninstall() cannot see it
        async with betas("a"):
            await client.post("/echo", cast_to=STACK.Response, body={})
    async with betas("a"):
        await stray.post("/echo", cast_to=STACK.Response, body={})
    assert [r.beta for r in server.received] == ["i,a", None]
    await client.close()


def test_an_sdk_imported_after_install_runs_nothing_of_it_per_call() -> None:
    # No client can predate the patch, so the chain is read from the client as ever; the
    # chains built while installed are built anew, without ours, by uninstall()
    import subprocess
    import sys

    code = f"""
import beta_middleware
installation = beta_middleware.install(betas="i", hosts=None)
import anthropic, {STACK.__name__} as stack
from anthropic._base_client import SyncAPIClient
chain = SyncAPIClient.__dict__["_middleware_chain"]
print(type(chain).__name__, hasattr(type(chain), "__get__"), sorted(installation.imported_before))
seen = []
def handler(request):
    seen.append(request.headers.get("anthropic-beta"))
    return stack.Response(200, json={{}})
client = anthropic.Anthropic(api_key="k", http_client=stack.Client(transport=stack.MockTransport(handler)))
with beta_middleware.betas("a"):
    client.post("/x", cast_to=stack.Response, body={{}})
    installation.uninstall()
    client.post("/x", cast_to=stack.Response, body={{}})
print(seen, client._middleware_chain, client.middleware)
"""
    command = [sys.executable, "-c", code]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["_Chain False []", "['i,a', None] None ()"]
