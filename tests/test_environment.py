"""The test environment (tests/environment.py) is in effect."""

from __future__ import annotations

import os
import ssl

import httpx
import httpx2

from .environment import ONE_CA


def test_clients_built_by_the_tests_load_one_certificate_authority() -> None:
    assert os.environ["SSL_CERT_FILE"] == str(ONE_CA)
    for stack in (httpx, httpx2):  # what their clients and transports build
        context = stack.create_ssl_context()
        assert isinstance(context, ssl.SSLContext)
        assert context.cert_store_stats()["x509_ca"] == 1, stack.__name__
