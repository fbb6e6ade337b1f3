"""Connecting smartdc_nb to the test emulator, for fixtures and for tests that need their own."""

from __future__ import annotations

import smartdc_nb


def connect_to(emu, triton_keys, datacenter=None, key="rsa", **options):
    """A DataCenter connected to one of ``emu``'s datacenters as account demo."""
    key = triton_keys[key]
    options.setdefault("rate_limit", False)  # tests that exercise the limiter turn it on
    # Retries back off 1 ms, not CloudAPI's 0.5 s: retry tests count attempts, and take
    # milliseconds (a server's Retry-After is still honoured as sent).
    options.setdefault("backoff", 0.001)  # 8 doubling retries: 0.26 s, not 2.6 s at 10 ms
    # Waits poll unless a test turns the changefeed on (tests/test_feed_waits.py and the
    # live-view tests do): the polling tests count their requests exactly.
    options.setdefault("changefeed", False)
    name = datacenter or next(iter(emu.urls))
    options.setdefault("name", name)
    return smartdc_nb.connect(url=emu.urls[name], account="demo", key_id=key.md5,
                              key_path=str(key.private), passphrase=key.passphrase, **options)
