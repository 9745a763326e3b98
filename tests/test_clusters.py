"""Dask's `LocalCluster` with process workers: carried functions, and a worker's request on the wire.

Every process here listens and connects on 127.0.0.1 only. scripts/test's "clusters" lane
installs Dask and Ray (the `clusters` extra) and runs this module and docs/processes.md's
recipes (tests/test_docs.py); elsewhere these tests skip, saying why. Ray's tests are that
page's recipe: Ray starts once per process there (a second start in one process, after
`pytester` has moved `HOME`, times out on the token Ray keeps from the first).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from beta_middleware import betas, carry

from . import jobs
from .server import Server

ALPHA, BETA = "alpha-2025-01-01", "beta-2025-02-02"
WAIT = 60  # seconds: a bound on every result


@pytest.fixture(scope="module")
def dask_client() -> Iterator[Any]:
    distributed = pytest.importorskip(
        "distributed", reason="Dask's distributed is not installed (scripts/test --lane clusters has it)"
    )
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,  # each worker a process of its own
            host="127.0.0.1",
            dashboard_address=None,
            worker_dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster, timeout=WAIT) as client,
    ):
        yield client


def results(futures: list[Any]) -> list[Any]:
    """Each future's result, waiting at most WAIT seconds for each."""
    return [future.result(WAIT) for future in futures]


def test_dask_submit_and_map_of_carried_functions(dask_client: Any) -> None:
    with betas(ALPHA):
        in_alpha = carry(jobs.tagged)
    with betas(BETA):
        in_beta = carry(jobs.tagged)
    alone = dask_client.submit(in_alpha, "one").result(WAIT)
    # the same function over the same inputs, in flight at once on both workers
    alphas, betas_ = dask_client.map(in_alpha, range(8)), dask_client.map(in_beta, range(8))
    plain = dask_client.map(jobs.tagged, range(8))
    assert alone == ("one", (ALPHA,))
    assert results(alphas) == [(x, (ALPHA,)) for x in range(8)]
    assert results(betas_) == [(x, (BETA,)) for x in range(8)]
    assert results(plain) == [(x, ()) for x in range(8)]


def test_a_dask_worker_sends_through_an_installed_client(dask_client: Any, server: Server) -> None:
    url = server.url_for("/echo")
    with betas(ALPHA, BETA):
        sent = dask_client.submit(carry(jobs.send), url, pure=False).result(WAIT)
    assert sent == f"{ALPHA},{BETA}"
    assert dask_client.submit(carry(jobs.send), url, pure=False).result(WAIT) is None
    with betas(BETA):
        both = results(dask_client.map(carry(jobs.send), [url] * 4, pure=False))
    assert both == [BETA] * 4
    on_the_wire = [f"{ALPHA},{BETA}", None, *[BETA] * 4]
    assert sorted(server.betas, key=str) == sorted(on_the_wire, key=str)
