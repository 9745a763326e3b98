"""`install()` over the anthropic SDK, on whichever SDK line is installed.

tests/test_install.py covers every stack on the main line; this module also runs in the
anthropic 0.x environments (marked `anthropic0` there), where the SDK runs its chain in
`request`, not `_request`, and sends on httpx.
"""

from __future__ import annotations

import inspect
import warnings

import anthropic
import pytest

from beta_middleware import HEADER, betas, install

from .sdk_cases import LINE_MARKS, STACK
from .server import Server

pytestmark = LINE_MARKS

# hosts the server is not on: only the SDK patch, not the HTTP stack's, can add betas
ELSEWHERE = ("api.anthropic.com",)
ABSENT = object()


def test_the_sdk_patch_replaces_no_method_and_uninstall_restores_every_class() -> None:
    classes = [
        cls for cls in dict.fromkeys((*anthropic.Anthropic.__mro__, *anthropic.AsyncAnthropic.__mro__))
    ]
    before = {cls: dict(vars(cls)) for cls in classes}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a patch that fails warns: that would fail here
        installation = install(betas="i", hosts=ELSEWHERE)
    try:
        replaced = [
            (cls, name)
            for cls, held in before.items()
            for name, value in vars(cls).items()
            if held.get(name, ABSENT) is not value
        ]
        assert replaced  # the patch is on the SDK's classes, not on its clients
        # What runs per call is the SDK's own code: no function of the SDK is replaced.
        assert [(cls, name) for cls, name in replaced if inspect.isfunction(before[cls].get(name))] == []
        # and what was put on the classes reads on the classes too (as inspect, pydoc, mock read them)
        for cls, name in replaced:
            getattr(cls, name)
    finally:
        installation.uninstall()
    after = {cls: dict(vars(cls)) for cls in classes}
    assert all(after[cls].keys() == held.keys() for cls, held in before.items())
    assert all(after[cls][name] is value for cls, held in before.items() for name, value in held.items())


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


def test_each_client_sends_the_betas_and_uninstall_takes_them_off(server: Server) -> None:
    import copy

    client = anthropic.Anthropic(api_key="test-key", base_url=server.url)  # before: the SDK's chain, none
    twin = copy.copy(client)  # shares the client's __dict__ entries, not its chain
    with install(hosts=ELSEWHERE) as installation, betas("a"):
        for sender in (client, client, twin, client):
            response = sender.post("/echo", cast_to=STACK.Response, body={})
            assert response.json()[HEADER] == "a"
        built = anthropic.Anthropic(api_key="test-key", base_url=server.url)  # while installed
        assert built.post("/echo", cast_to=STACK.Response, body={}).json()[HEADER] == "a"
        stray = copy.copy(built)  # holds the chain with ours, where uninstall() cannot see it
        assert client.middleware == built.middleware == ()  # the public view: the client's own
        assert "anthropic" in installation.imported_before
    with betas("a"):
        for sender in (client, twin, built):  # as before the installation
            sender.post("/echo", cast_to=STACK.Response, body={})
        stray.post("/echo", cast_to=STACK.Response, body={})  # ours is in its chain, and does nothing
    assert [r.beta for r in server.received] == ["a"] * 5 + [None] * 4


def test_a_copy_made_while_installed_sends_the_betas_through_the_chain_it_copied(server: Server) -> None:
    import copy

    with install(hosts=ELSEWHERE), betas("a"):
        client = anthropic.Anthropic(api_key="test-key", base_url=server.url)
        twin = copy.copy(client)  # its __dict__, chain included, as the SDK's own copy.copy gives
        twin.post("/echo", cast_to=STACK.Response, body={})
    twin.post("/echo", cast_to=STACK.Response, body={})
    assert [r.beta for r in server.received] == ["a", None]


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
