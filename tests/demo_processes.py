"""Processes of the demo command and its clouds, as the demo and wheel tests watch them."""

from __future__ import annotations

import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def gone(pid: int) -> bool:
    """The process has exited (a zombie counts as exited)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status


def refuses(url: str) -> bool:
    host, port = url.rsplit("/", 1)[-1].split(":")
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def emulator_pids(demo_dir: Path) -> list[int]:
    """Emulator processes serving ``demo_dir``, found by their command lines."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"smartdc_nb.emulator" in argv and str(demo_dir / "state.sqlite").encode() in argv \
                    and not gone(int(entry.name)):
                pids.append(int(entry.name))
    return pids


def free_port() -> int:
    """A free port below the kernel's ephemeral range: a port the OS hands out for bind(0) (the
    demo's own clouds, every other test's servers) could be taken again before JupyterLab
    binds it, as happened under xdist ("port ... is already in use")."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0]) \
        if Path("/proc/sys/net/ipv4/ip_local_port_range").exists() else 32768
    for port in random.sample(range(max(1024, low - 12000), low), 200):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port below the ephemeral range")


def read_until(proc: subprocess.Popen, marker: str, timeout: float = 90) -> list[str]:
    lines = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError("the demo exited early:\n" + "".join(lines) + proc.stderr.read())
        lines.append(line)
        if marker in line:
            return lines
    raise AssertionError("no " + repr(marker) + " in:\n" + "".join(lines))


def start_demo(demo_env, port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "smartdc_nb.cli", "demo", "--no-browser", "--port", str(port),
         "--machines", "6", "--speed", "10"],
        env=demo_env, text=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)


def stop_demo(proc: subprocess.Popen) -> None:
    """Stop a demo a test left running as a user would (Ctrl-C), killing it only if that fails."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
