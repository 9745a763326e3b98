"""The environment every test process, and every process a test starts, runs in."""

from __future__ import annotations

import os
from pathlib import Path

ONE_CA = Path(__file__).with_name("one-ca.pem")


def set_up() -> None:
    """Point `SSL_CERT_FILE` at a bundle of one certificate authority.

    httpx, httpx2 (and so the SDK) load the certificate authorities whenever a client or
    transport is built, TLS or not: certifi's 117 take 20-50 ms each time, a tenth of the
    suite's time. No test speaks TLS (every server is plain HTTP on 127.0.0.1), so which
    authorities are trusted changes nothing a test sees; `SSL_CERT_FILE` is the variable
    those stacks and OpenSSL read for it. Set, not defaulted: every machine runs alike.
    """
    os.environ["SSL_CERT_FILE"] = str(ONE_CA)
