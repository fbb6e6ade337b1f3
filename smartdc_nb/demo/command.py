"""``smartdc-nb demo``: a demo cloud that lives as long as the command, and JupyterLab on it.

The cloud's processes, files and profile are :mod:`smartdc_nb.demo.cloud`'s.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import webbrowser
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .cloud import (ACCOUNT, DEFAULT_MACHINES, DIR_ENV, FIRST_NOTEBOOK, LAB_OVERRIDES,
                    START_TIMEOUT, DemoDir, _answers, _exit_with_parent, _launch, demo_dir,
                    running_cloud, start_cloud, start_lock, stop_process)


# ------------------------------------------------------------- the command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-browser", action="store_true", help="do not open a web browser")
    parser.add_argument("--port", type=int, default=None,
                        help="JupyterLab's port (default 8888, or the next free one)")
    parser.add_argument("--reset", action="store_true",
                        help="re-seed the demo cloud, dropping the changes kept from earlier runs")
    parser.add_argument("--machines", type=int, default=None,
                        help=f"seeded machines per datacenter (default {DEFAULT_MACHINES}; "
                             "applies to a new or --reset fleet)")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of the demo fleet (default 0; applies to a new or --reset fleet)")
    parser.add_argument("--speed", type=float, default=1.0,
                        help="run every transition X times faster (default 1: a few seconds each)")
    parser.add_argument("--notebooks", metavar="DIR", default=None,
                        help="the folder JupyterLab opens (default: in a checkout its notebooks/, "
                             "else a working copy of the packaged runbooks, see `smartdc-nb notebooks`)")


def _fail(message: str) -> int:
    print(f"smartdc-nb demo: {message}", file=sys.stderr)
    return 2


def _check_arguments(args: argparse.Namespace) -> str | None:
    if args.port is not None and not 0 < args.port < 65536:
        return f"--port {args.port} is not a TCP port (1-65535)"
    if args.machines is not None and args.machines < 0:
        return f"--machines {args.machines}: give a number of machines >= 0"
    if not args.speed > 0:
        return f"--speed {args.speed:g}: give a factor > 0 (2 runs transitions twice as fast)"
    if importlib.util.find_spec("jupyterlab") is None:
        return ("JupyterLab is not installed in this environment: "
                "pip install 'smartdc_nb[notebook]' (or run ./dev demo)")
    return None


def _notebooks_dir(args: argparse.Namespace) -> Path | None:
    """The folder JupyterLab opens; outside a checkout, a working copy of the runbooks (made once)."""
    from ..runbook import library

    if args.notebooks:
        path = Path(args.notebooks).expanduser().resolve()
        return path if path.is_dir() else None
    if library.in_checkout():
        return library.PACKAGED.parent.parent / "notebooks"
    path = library.default_copy_dir()
    fresh = not path.exists()
    library.copy_out(path, say=lambda text: print(f"smartdc-nb demo: {text}", file=sys.stderr))
    print(f"{'Copied the runbooks to' if fresh else 'Runbooks in'} {path} "
          f"(set {library.COPY_ENV} or --notebooks DIR for another folder)", flush=True)
    return path


def _has_gui() -> bool:
    # Without a display, webbrowser falls back to a text browser (lynx, w3m) that
    # would take over this terminal: print the URL only.
    return sys.platform in ("darwin", "win32") or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _start_jupyter(d: DemoDir, notebooks: Path, port: int | None) -> tuple[subprocess.Popen, str]:
    """JupyterLab on ``notebooks`` at 127.0.0.1 with a fresh token; returns (process, URL to open)."""
    from jupyter_core.paths import jupyter_runtime_dir

    token = secrets.token_hex(24)
    env = dict(os.environ, JUPYTER_TOKEN=token, **{DIR_ENV: str(d.root)})  # token kept off `ps`
    # A workspace and settings defaults of the demo's own: no news pop-up, and no tabs or
    # kernels of an earlier session coming back.
    lab = d.root / "lab"
    shutil.rmtree(lab, ignore_errors=True)
    (lab / "config" / "labconfig").mkdir(parents=True)
    (lab / "config" / "labconfig" / "default_setting_overrides.json").write_text(
        json.dumps(LAB_OVERRIDES))
    env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(
        filter(None, [str(lab / "config"), os.environ.get("JUPYTER_CONFIG_PATH")]))
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port or 8888}", f"--ServerApp.root_dir={notebooks}",
               f"--LabApp.workspaces_dir={lab / 'workspaces'}", "--LabApp.news_url=None"]
    if port:
        command.append("--ServerApp.port_retries=0")  # the port asked for, or a clear failure
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # containers often run as root; the server stays on loopback
    page = f"lab/tree/{FIRST_NOTEBOOK}" if (notebooks / FIRST_NOTEBOOK).is_file() else "lab"

    def url(proc: subprocess.Popen) -> str | None:
        try:
            server = json.loads((Path(jupyter_runtime_dir()) / f"jpserver-{proc.pid}.json").read_text())
        except (OSError, ValueError):
            return None
        # ready when it answers, not when it has written its runtime file: under load the
        # URL was printed (and opened) before anything listened there
        if not _answers(server["url"]):
            return None
        return f"{server['url'].rstrip('/')}/{page}?token={token}"

    return _launch(command, d.jupyter_log, "JupyterLab", START_TIMEOUT, url, env=env,
                   preexec=_exit_with_parent if sys.platform == "linux" else None)


def _start_demo_cloud(d: DemoDir, args: argparse.Namespace) -> tuple[subprocess.Popen, dict[str, Any]]:
    with start_lock(d):
        info = running_cloud(d)
        if info is not None:
            raise ConfigError(
                f"a demo cloud (process {info['pid']}) is already serving {d.root}, started by "
                "another `smartdc-nb demo` or by a notebook kernel's connect(\"demo\"); stop it "
                f"(Ctrl-C that command, shut the kernel down, or kill {info['pid']}) and try again")
        if d.state.exists() and not args.reset and (args.machines is not None or args.seed is not None):
            print("note: --machines/--seed shape a new fleet and the demo state already exists; "
                  "add --reset to re-seed", file=sys.stderr)
        return start_cloud(d, parent_pid=os.getpid(), machines=args.machines, seed=args.seed,
                           speed=args.speed, reset=args.reset)


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def run(args: argparse.Namespace) -> int:
    """Serve the demo cloud and JupyterLab until Ctrl-C or SIGTERM; 0 on a clean stop."""
    problem = _check_arguments(args)
    if problem:
        return _fail(problem)
    notebooks = _notebooks_dir(args)
    if notebooks is None:
        return _fail(f"--notebooks {args.notebooks}: no such folder")
    stopping: list[int] = []

    def on_signal(signum: int, _frame: Any) -> None:
        # No lock here: a handler calling threading.Event.set() deadlocks when a second
        # signal re-enters it (a held Ctrl-C, `timeout` signalling the group). Block both
        # signals in this thread first, so the rest of a burst stays pending until exit.
        if hasattr(signal, "pthread_sigmask"):
            signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        stopping.append(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in STOP_SIGNALS}
    cloud = jupyter = None
    code = 0
    try:
        d = demo_dir()
        cloud, info = _start_demo_cloud(d, args)
        width = max(map(len, info["urls"]))
        print(f"Demo cloud (account {ACCOUNT}, state in {d.state}):", flush=True)
        for name, url in info["urls"].items():
            print(f"  {name:<{width}}  {url}")
        print('  connect("demo") in a notebook or script uses it.')
        if not stopping:  # (JupyterLab would inherit the signal mask a stop request set)
            jupyter, url = _start_jupyter(d, notebooks, args.port)
            print(f"JupyterLab on {notebooks}:\n  {url}\nLogs in {d.root}. Ctrl-C to stop.",
                  flush=True)
            if not args.no_browser and _has_gui():
                webbrowser.open(url)
        while not stopping:
            time.sleep(0.5)  # a signal interrupts the sleep; its handler only notes the request
            for proc, what, log in ((jupyter, "JupyterLab", d.jupyter_log),
                                    (cloud, "the demo cloud", d.emulator_log)):
                if proc.poll() is not None and not stopping:
                    print(f"smartdc-nb demo: {what} exited (code {proc.returncode}); see {log}",
                          file=sys.stderr)
                    code = 1
                    stopping.append(0)
    except ConfigError as exc:
        print(f"smartdc-nb demo: {exc}", file=sys.stderr)
        code = 1
    finally:
        # JupyterLab first: it shuts its kernels down, which may be using the cloud.
        for proc in (jupyter, cloud):
            if proc is not None:
                stop_process(proc)
        if not any(stopping):  # after a stop signal both stay blocked until the process exits
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    if code == 0:
        print("smartdc-nb demo: stopped", flush=True)
    return code
