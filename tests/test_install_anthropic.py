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
