"""anthropic >= 1.0 (built on httpx2) with `beta_middleware.httpx2`, over real sockets.

The SDK line's checks live in `sdk_cases.py`; this module binds them to httpx2 and adds
what only this line needs.
"""

from __future__ import annotations

import anthropic
import httpx2
import pytest

from beta_middleware import httpx2 as integration

from .messages_server import MessagesServer
from .sdk_cases import ASK, FILES, Line, SDKCases, resolve


@pytest.fixture
def line() -> Line:
    assert int(anthropic.__version__.split(".")[0]) >= 1, f"anthropic {anthropic.__version__} is the 0.x line"
    return Line(anthropic, httpx2, integration)


class TestAnthropic(SDKCases):
    """Every check of `SDKCases`, on anthropic >= 1.0."""


def test_the_sdk_refuses_httpx_objects() -> None:
    # Why the two lines need their own integration module: 1.x takes only httpx2 clients.
    import httpx

    from beta_middleware.httpx import BetaTransport

    with pytest.raises(TypeError, match="httpx2"):
        anthropic.Anthropic(api_key="k", http_client=httpx.Client(transport=BetaTransport()))  # type: ignore[arg-type]


async def test_default_client_instrumented_sends_betas_from_the_sdk(messages_api: MessagesServer) -> None:
    client = anthropic.AsyncAnthropic(
        base_url=messages_api.url,
        api_key="k",
        http_client=integration.instrument(anthropic.DefaultAsyncHttpxClient(), betas=[FILES]),
    )
    async with client:
        await resolve(client.messages.create(**ASK))
    assert messages_api.betas == [FILES]
