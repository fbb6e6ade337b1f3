"""The demo cloud: ``smartdc-nb demo`` and the built-in ``demo`` profile.

The demo cloud is the emulator (``smartdc-nb emulator``) run as a separate
process -- the client never imports the emulator -- serving a seeded fleet in
three datacenters, with its state in a per-user data directory::

    $SMARTDC_NB_DEMO_DIR, else $XDG_DATA_HOME/smartdc_nb/demo, else ~/.local/share/smartdc_nb/demo
        id_ed25519, id_ed25519.pub   the demo account's key pair (generated once)
        state.sqlite                 the cloud's state (kept across restarts; --reset re-seeds)
        running.json                 {"urls": {...}, "pid": N, "parent_pid": P} while a cloud
                                     serves (the emulator's --ready-file: it removes it as
                                     it begins to stop)
        lock                         held while a cloud is being started
        emulator.log, jupyter.log    what those processes printed

``connect("demo")`` uses the cloud running.json names when it answers and the
process it lives for is still there, else it starts one that lives as long as
the calling process (``--parent-pid``):
a notebook then works without the command (Binder, ``jupyter lab`` by hand,
nbclient). That embedded cloud's size, seed and speed come from
``SMARTDC_NB_DEMO_MACHINES``, ``SMARTDC_NB_DEMO_SEED`` and
``SMARTDC_NB_DEMO_SPEED``. ``smartdc-nb demo`` starts a cloud that lives as
long as the command, then JupyterLab on the notebooks.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit

from ..errors import ConfigError

try:  # POSIX; without it (Windows) concurrent starts are not guarded
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

ACCOUNT = "demo"
DATACENTERS = ("us-east-1", "us-west-1", "eu-central-1")
DEFAULT_MACHINES = 50
DIR_ENV = "SMARTDC_NB_DEMO_DIR"
#: environment settings of an embedded cloud: variable -> (emulator option, type)
EMBEDDED_ENV = {
    "SMARTDC_NB_DEMO_MACHINES": ("machines", int),
    "SMARTDC_NB_DEMO_SEED": ("seed", int),
    "SMARTDC_NB_DEMO_SPEED": ("speed", float),
}
START_TIMEOUT = 60.0  # seconds for a cloud or JupyterLab to come up
STOP_TIMEOUT = 30.0
FIRST_NOTEBOOK = "01-fleet-overview.ipynb"
# JupyterLab settings for the demo, as defaults the user's own settings still override:
# no "get notified about Jupyter news?" pop-up over every page, no update check.
LAB_OVERRIDES = {"@jupyterlab/apputils-extension:notification":
                 {"fetchNews": "false", "checkForUpdates": False}}


class DemoDir:
    """The files of the demo cloud under one directory (see the module docstring)."""

    def __init__(self, root: Path):
        self.root = root
        self.key = root / "id_ed25519"
        self.public_key = root / "id_ed25519.pub"
        self.state = root / "state.sqlite"
        self.running = root / "running.json"
        self.lock = root / "lock"
        self.emulator_log = root / "emulator.log"
        self.jupyter_log = root / "jupyter.log"

    def __repr__(self) -> str:
        return f"DemoDir({str(self.root)!r})"


def demo_dir() -> DemoDir:
    """The per-user demo directory (created, private to the user)."""
    if os.environ.get(DIR_ENV):
        root = Path(os.environ[DIR_ENV]).expanduser()
    else:
        base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
        root = Path(base).expanduser() / "smartdc_nb" / "demo"
    try:
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise ConfigError(f"cannot create the demo directory {root}: {exc.strerror or exc} "
                          f"(set {DIR_ENV} to a writable directory)") from None
    return DemoDir(root)


def ensure_key(d: DemoDir) -> None:
    """Generate the demo account's Ed25519 key pair once."""
    if d.key.is_file() and d.public_key.is_file():
        return
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH)
    fd = os.open(d.key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(private)
    d.public_key.write_text(public.decode() + " smartdc_nb-demo\n")


# -------------------------------------------------------------- the cloud


def _alive(pid: int) -> bool:
    # The emulator's command line has the same check; the client may not import it.
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _answers(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port or 80), timeout=2):
            return True
    except OSError:
        return False


def _read_running(d: DemoDir) -> dict[str, Any] | None:
    try:
        info = json.loads(d.running.read_text())
        parent = info.get("parent_pid")
        return {"urls": dict(info["urls"]), "pid": int(info["pid"]),
                "parent_pid": None if parent is None else int(parent)}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def running_cloud(d: DemoDir) -> dict[str, Any] | None:
    """``{"urls": {...}, "pid": N, "parent_pid": P}`` of the demo cloud serving ``d``, or None.

    A cloud whose parent process is gone is never used: it is about to stop
    (it polls its parent every half second), and would vanish mid-work.
    """
    info = _read_running(d)
    if info is None or not info["urls"] or not _alive(info["pid"]):
        return None
    if info["parent_pid"] is not None and not _alive(info["parent_pid"]):
        return None
    if not all(_answers(u) for u in info["urls"].values()):
        return None
    return info


def _await_orphan(d: DemoDir, timeout: float = 10.0) -> None:
    """Wait (bounded) for a cloud whose parent is gone to exit, so two never share the state file."""
    info = _read_running(d)
    if info is None or info["parent_pid"] is None or _alive(info["parent_pid"]):
        return
    deadline = time.monotonic() + timeout
    while _alive(info["pid"]) and time.monotonic() < deadline:
        time.sleep(0.05)


@contextlib.contextmanager
def start_lock(d: DemoDir, timeout: float = START_TIMEOUT) -> Iterator[None]:
    """Hold ``d.lock`` so that two processes never start two clouds on one state."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    with open(d.lock, "a+") as f:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ConfigError(
                        f"another process has been starting the demo cloud for {timeout:.0f} s "
                        f"(lock {d.lock}); see {d.emulator_log}") from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:]) or "(empty log)"


def start_cloud(d: DemoDir, *, parent_pid: int, machines: int | None = None, seed: int | None = None,
                speed: float | None = None, reset: bool = False,
                timeout: float = START_TIMEOUT) -> tuple[subprocess.Popen, dict[str, Any]]:
    """Start the demo cloud as a subprocess that exits with ``parent_pid``; wait until it serves.

    Call it holding :func:`start_lock`. ``machines``/``seed`` shape a new
    fleet: they apply when the state is first created or with ``reset``.
    """
    ensure_key(d)
    _await_orphan(d)
    d.running.unlink(missing_ok=True)  # stale: the caller checked nothing serves
    command = [sys.executable, "-m", "smartdc_nb.emulator", "--port", "0",
               "--datacenters", ",".join(DATACENTERS), "--account", ACCOUNT,
               "--key", str(d.public_key), "--state", str(d.state),
               "--machines", str(DEFAULT_MACHINES if machines is None else machines),
               "--seed", str(seed or 0), "--speed", str(speed or 1.0),
               "--ready-file", str(d.running), "--parent-pid", str(parent_pid)]
    if reset:
        command.append("--reset")

    def serving(proc: subprocess.Popen) -> dict[str, Any] | None:
        info = running_cloud(d)
        return info if info is not None and info["pid"] == proc.pid else None

    return _launch(command, d.emulator_log, "the demo cloud", timeout, serving)


def _exit_with_parent() -> None:
    """In the child, before exec: Linux sends it SIGTERM when this process dies, even by SIGKILL.

    JupyterLab has no option like the emulator's --parent-pid; without this a
    killed ``smartdc-nb demo`` would leave it serving. (The signal is tied to
    the thread that started the child: the command's main thread.)
    """
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _launch(command: list[str], log_path: Path, what: str, timeout: float,
            ready: Callable[[subprocess.Popen], Any], env: dict[str, str] | None = None,
            preexec: Callable[[], None] | None = None) -> tuple[subprocess.Popen, Any]:
    """Start ``command`` (output to ``log_path``); return ``(process, ready(process))`` once that is not None.

    ConfigError, with the end of the log, when the process exits first or
    ``timeout`` seconds pass (the process is then stopped).
    """
    with open(log_path, "wb") as log:
        # A session of its own: an interrupt sent to the caller's process group
        # (Ctrl-C, a kernel interrupt) must not reach it.
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                preexec_fn=preexec)
    deadline = time.monotonic() + timeout
    while True:
        result = ready(proc)
        if result is not None:
            return proc, result
        if proc.poll() is not None:
            raise ConfigError(f"{what} exited (code {proc.returncode}) before serving:\n"
                              f"{_log_tail(log_path)}\n(log: {log_path})")
        if time.monotonic() > deadline:
            stop_process(proc)
            raise ConfigError(f"{what} did not start within {timeout:.0f} s; see {log_path}")
        time.sleep(0.05)


def stop_process(proc: subprocess.Popen, timeout: float = STOP_TIMEOUT) -> int | None:
    """SIGTERM ``proc`` and wait; SIGKILL its process group if it does not stop in time."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode


def profile_fields(d: DemoDir, info: dict[str, Any]) -> dict[str, Any]:
    """The ``demo`` profile for the cloud ``info`` describes."""
    from ..auth import md5_fingerprint

    name, url = next(iter(info["urls"].items()))
    return {"url": url, "datacenter": name, "account": ACCOUNT,
            "key_id": md5_fingerprint(d.public_key.read_text()), "key_path": str(d.key)}


def _embedded_settings() -> dict[str, Any]:
    settings = {}
    for var, (name, kind) in EMBEDDED_ENV.items():
        value = os.environ.get(var)
        if not value:
            continue
        try:
            settings[name] = kind(value)
        except ValueError:
            raise ConfigError(f"{var}={value!r} is not a valid {kind.__name__}") from None
    return settings


_embedded: subprocess.Popen | None = None  # the cloud this process started, kept to reap it


def demo_profile() -> dict[str, Any]:
    """The built-in ``demo`` profile: the running demo cloud, or one started for this process."""
    global _embedded
    d = demo_dir()
    info = running_cloud(d)
    if info is None:
        with start_lock(d):
            info = running_cloud(d)  # another process may have started it meanwhile
            if info is None:
                if _embedded is not None:
                    stop_process(_embedded)
                _embedded, info = start_cloud(d, parent_pid=os.getpid(), **_embedded_settings())
    return profile_fields(d, info)
