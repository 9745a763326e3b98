"""`install()` over the anthropic SDK, on whichever SDK line is installed.

tests/test_install.py covers every stack on the main line; this module also runs in the
anthropic 0.x environments (marked `anthropic0` there), where the SDK runs its chain in
`request`, not `_request`, and sends on httpx.
"""

from __future__ import annotations

import warnings

import anthropic
import pytest
from anthropic._base_client import AsyncAPIClient, SyncAPIClient

from beta_middleware import HEADER, betas, install

from .sdk_cases import LINE_MARKS, STACK
from .server import Server

pytestmark = LINE_MARKS

# hosts the server is not on: only the SDK patch, not the HTTP stack's, can add betas
ELSEWHERE = ("api.anthropic.com",)


def test_the_sdk_patch_applies_and_uninstall_restores_the_very_methods() -> None:
    names = [
        ("_request" if "_request" in c.__dict__ else "request", c) for c in (SyncAPIClient, AsyncAPIClient)
    ]
    before = [c.__dict__[name] for name, c in names]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a patch that fails warns: that would fail here
        installation = install(betas="i", hosts=ELSEWHERE)
    try:
        assert [c.__dict__[name] for name, c in names] != before
    finally:
        installation.uninstall()
    assert all(c.__dict__[name] is b for (name, c), b in zip(names, before, strict=True))


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

    from beta_middleware._install_anthropic import _KEPT
    from beta_middleware.anthropic import _chain_client

    client = anthropic.Anthropic(api_key="test-key", base_url=server.url)
    twin = copy.copy(client)  # shares the client's __dict__ entries, not its chain
    chains = []
    with install(hosts=ELSEWHERE), betas("a"):
        for sender in (client, client, twin, client):
            response = sender.post("/echo", cast_to=STACK.Response, body={})
            assert response.json()[HEADER] == "a"
            chains.append(sender.__dict__[_KEPT][2])
        twin.__dict__[_KEPT] = client.__dict__[_KEPT]  # as a copy made now would hold it
        twin.post("/echo", cast_to=STACK.Response, body={})
        assert _chain_client(twin.__dict__[_KEPT][2]) is twin
    assert chains[0] is chains[1] is chains[3]
    assert chains[2] is not chains[0]
    assert _chain_client(chains[0]) is client
    assert _KEPT not in client.__dict__
    assert _KEPT not in twin.__dict__
    assert client._middleware_chain is None  # as before the installation
