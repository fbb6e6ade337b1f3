"""Fixtures of the emulator tests.

The emulator's own fixtures (``triton_keys``, ``emulator``, ``emu``,
``triton_cli``) come from the plugin ``smartdc_nb.emulator.testing``, which the
top-level conftest loads.
"""

from __future__ import annotations

import pytest
from emu_client import Client, close_all


@pytest.fixture(autouse=True)
def _close_clients():
    yield
    close_all()


@pytest.fixture
def api(emu, triton_keys):
    """A signed client (account demo, RSA key) for the first datacenter."""
    client = Client(emu.url, triton_keys["rsa"])
    yield client
    client.close()


@pytest.fixture
def machine_id(emu):
    """A running joyent machine owned by demo in us-east-1, injected for the test."""
    return emu.datacenter("us-east-1").put_machine(name="fixture-vm", tags={"role": "web"},
                                                   metadata={"foo": "bar"})
