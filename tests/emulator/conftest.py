"""Make the emulator's fixtures available when the top-level conftest does not
load them (``pytest_plugins = ["smartdc_nb.emulator.testing"]`` belongs there)."""

from __future__ import annotations


def pytest_configure(config):
    if not config.pluginmanager.has_plugin("smartdc_nb.emulator.testing"):
        config.pluginmanager.import_plugin("smartdc_nb.emulator.testing")
