"""Fixtures shared by the whole suite.

The emulator's fixtures (``triton_keys``, ``emulator``, ``emu``,
``triton_cli``) come from the smartdc_nb.emulator.testing plugin; the client
fixtures below connect smartdc_nb to it over loopback HTTP, as a user would.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from clients import connect_to
from notebook_runs import profile_env, start_demo_cloud

from smartdc_nb import Fleet, config, demo

pytest_plugins = ["smartdc_nb.emulator.testing"]


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: without xdist, never called
def pytest_xdist_auto_num_workers(config):
    """What ``-n auto`` (``./dev test``) means here: one worker more than there are cores.

    Much of the suite waits on other processes (kernels, JupyterLab, Chromium, the triton
    CLI, pip): with one worker a core, the cores were half idle through the slow tests. On two
    cores, a third worker ran the old suite's 767 tests in 184 s instead of 221 s.
    ``PYTEST_XDIST_AUTO_NUM_WORKERS`` still sets the number.
    """
    if config.option.numprocesses != "auto" or os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (cores or 1) + 1


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """Slow tests first, the rest after them, each in collection order.

    ``./dev test`` hands tests to its workers one at a time in this order (``--dist
    loadgroup``): the long ones start at once and the quick ones fill in behind them, so no
    notebook run or venv install starts last while the other worker sits idle.
    """
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture
def dc(emu, triton_keys):
    """smartdc_nb connected to the emulator's first datacenter (us-east-1)."""
    return connect_to(emu, triton_keys)


@pytest.fixture
def dc_west(emu, triton_keys):
    """smartdc_nb connected to the emulator's second datacenter (us-west-1)."""
    return connect_to(emu, triton_keys, "us-west-1")


@pytest.fixture
def fleet(dc):
    """A Fleet of ``dc`` alone (a module that needs another Fleet defines its own)."""
    return Fleet(dc)


@pytest.fixture
def catalog(dc):
    """The DataCenter with its packages and images fetched (so reprs can name them)."""
    dc.packages()
    dc.images()
    return dc


@pytest.fixture
def connect(emu, triton_keys):
    """``connect(datacenter=None, key="rsa", **options)`` for tests that need their own options."""
    return lambda datacenter=None, key="rsa", **options: connect_to(
        emu, triton_keys, datacenter, key, **options)


@pytest.fixture(autouse=True)
def journal_path(tmp_path_factory, monkeypatch):
    """Every test journals to its own file (parallel runs never share one, nor the user's)."""
    path = tmp_path_factory.mktemp("journal") / "journal.jsonl"
    monkeypatch.setenv("SMARTDC_NB_JOURNAL", str(path))
    # No fsync in tests (records still survive a killed process): the suite sends thousands
    # of requests on a shared disk. test_journal_records checks the default fsyncs every record.
    monkeypatch.setenv("SMARTDC_NB_JOURNAL_SYNC", "none")
    return path


@pytest.fixture(autouse=True)
def quick_waits(monkeypatch):
    """Waits given no interval, here and in the kernels and runbooks tests start, poll every
    0.1 s instead of 2 s: the test clouds' jobs take 0.1-0.5 s (the emulator's FAST_DURATIONS,
    the demo clouds at 20x). test_wait checks the 2 s default and the variable."""
    monkeypatch.setenv("SMARTDC_NB_WAIT_INTERVAL", "0.1")


# ------------------------------------------------------------ runbooks (notebook_runs)


@pytest.fixture
def demo_cloud(tmp_path, monkeypatch):
    proc, info = start_demo_cloud(tmp_path, monkeypatch, machines=20)
    yield info
    demo.stop_process(proc)


@pytest.fixture
def empty_demo_cloud(tmp_path, monkeypatch):
    proc, info = start_demo_cloud(tmp_path, monkeypatch, machines=0)
    yield info
    demo.stop_process(proc)


@pytest.fixture
def lab_env(emu, triton_keys, tmp_path):
    """An environment with a triton CLI profile "lab" for the emulator fixture, and no demo cloud."""
    return {**profile_env(emu, triton_keys, tmp_path, ("TRITON_", "SDC_", "SMARTDC_NB_DEMO_")),
            "SMARTDC_NB_DEMO_DIR": str(tmp_path / "no-demo")}


# ------------------------------------------------------------ profiles (test_config*)


_SCRUB = ("TRITONTEST_CLI_CONFIG_DIR", "XDG_CONFIG_HOME", "TRITON_PROFILE", "TRITON_ROLE", "SDC_TESTING",
          "SMARTDC_NB_KEY_PASSPHRASE", "SSH_AUTH_SOCK",
          *(v for names in config.ENV_VARS.values() for v in names), *config.INSECURE_VARS)


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """An empty HOME with no triton or SDC variables; returns the ~/.triton path (not created)."""
    for var in _SCRUB:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path / ".triton"


@pytest.fixture
def demo_env(tmp_path, monkeypatch):
    """An environment whose demo directory, Jupyter dirs and settings are the test's own."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TRITON_", "SDC_", "JUPYTER_", "SMARTDC_NB_DEMO_"))}
    env.update(SMARTDC_NB_DEMO_DIR=str(tmp_path / "demo"), SMARTDC_NB_DEMO_MACHINES="8",
               SMARTDC_NB_DEMO_SPEED="20", JUPYTER_RUNTIME_DIR=str(tmp_path / "jupyter-runtime"),
               JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config"),
               JUPYTER_DATA_DIR=str(tmp_path / "jupyter-data"), PYTHONUNBUFFERED="1")
    monkeypatch.setenv("SMARTDC_NB_DEMO_DIR", env["SMARTDC_NB_DEMO_DIR"])
    return env


@pytest.fixture
def store(tmp_path, monkeypatch):
    """The history directory of fleet snapshots (``SMARTDC_NB_HISTORY_DIR``), the test's own."""
    directory = tmp_path / "history"
    monkeypatch.setenv("SMARTDC_NB_HISTORY_DIR", str(directory))
    return directory
