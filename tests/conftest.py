"""Fixtures shared by the whole suite.

The emulator's fixtures (``triton_keys``, ``emulator``, ``emu``,
``triton_cli``) come from the smartdc_nb.emulator.testing plugin; the client
fixtures below connect smartdc_nb to it over loopback HTTP, as a user would.
"""

from __future__ import annotations

import pytest

import smartdc_nb

pytest_plugins = ["smartdc_nb.emulator.testing"]


def connect_to(emu, triton_keys, datacenter=None, key="rsa", **options):
    """A DataCenter connected to one of ``emu``'s datacenters as account demo."""
    key = triton_keys[key]
    options.setdefault("rate_limit", False)  # tests that exercise the limiter turn it on
    name = datacenter or next(iter(emu.urls))
    options.setdefault("name", name)
    return smartdc_nb.connect(url=emu.urls[name], account="demo", key_id=key.md5,
                              key_path=str(key.private), passphrase=key.passphrase, **options)


@pytest.fixture
def dc(emu, triton_keys):
    """smartdc_nb connected to the emulator's first datacenter (us-east-1)."""
    return connect_to(emu, triton_keys)


@pytest.fixture
def dc_west(emu, triton_keys):
    """smartdc_nb connected to the emulator's second datacenter (us-west-1)."""
    return connect_to(emu, triton_keys, "us-west-1")


@pytest.fixture
def connect(emu, triton_keys):
    """``connect(datacenter=None, key="rsa", **options)`` for tests that need their own options."""
    return lambda datacenter=None, key="rsa", **options: connect_to(
        emu, triton_keys, datacenter, key, **options)
