"""``python -m smartdc_nb.emulator`` / ``smartdc-nb emulator``: output, errors, clean stops."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys

import pytest
from emu_client import Client
from polling import eventually

from smartdc_nb.emulator.cli import add_arguments, run


def free_port_block(count: int) -> int:
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + count > 65535:
            continue
        try:
            holders = []
            for i in range(count):
                s = socket.socket()
                s.bind(("127.0.0.1", base + i))
                holders.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in holders:
                s.close()
    raise RuntimeError("no free port block")


def spawn(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "smartdc_nb.emulator", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    """Stop ``proc`` if it still runs; its exit code and remaining output (pipes closed)."""
    if proc.poll() is None:
        proc.terminate()
    out, err = proc.communicate(timeout=20)
    return proc.returncode, out, err


def first_lines(proc: subprocess.Popen, until: str) -> list[str]:
    lines = []
    while True:
        line = proc.stdout.readline()
        assert line, (lines, proc.stderr.read())
        lines.append(line.rstrip("\n"))
        if line.startswith(until):
            return lines


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_prints_urls_and_profile_then_stops_cleanly(triton_keys, stop):
    key = triton_keys["ed25519"]
    base = free_port_block(3)
    proc = spawn("--port", str(base), "--key", str(key.public), "--account", "ops-team",
                 "--datacenters", "zone-a,zone-b,zone-c", "--machines", "3", "--speed", "10")
    try:
        lines = first_lines(proc, "Ctrl-C")
        urls = re.findall(r"^  (\S+)\s+(http://\S+)$", "\n".join(lines), re.M)
        assert urls == [("zone-a", f"http://127.0.0.1:{base}"), ("zone-b", f"http://127.0.0.1:{base + 1}"),
                        ("zone-c", f"http://127.0.0.1:{base + 2}")]
        profile = json.loads(next(line for line in lines if line.strip().startswith("{")))
        assert profile == {"url": f"http://127.0.0.1:{base}", "account": "ops-team", "keyId": key.md5}
        client = Client(profile["url"], key, key_id=f"/ops-team/keys/{key.md5}")
        assert client.get("/my").json()["login"] == "ops-team"
        assert len(client.get("/my/machines?tombstone=1").json()) == 3
        client.close()
        proc.send_signal(stop)
        code, out, err = finish(proc)
        assert code == 0 and "stopped" in out and "Traceback" not in err
    finally:
        finish(proc)


def test_port_zero_picks_free_ports_and_throttle_flag(triton_keys):
    key = triton_keys["rsa"]
    proc = spawn("--port", "0", "--key", str(key.public), "--machines", "1", "--throttle",
                 "--datacenters", "a,b")
    try:
        lines = first_lines(proc, "Ctrl-C")
        urls = re.findall(r"http://127\.0\.0\.1:(\d+)$", "\n".join(lines), re.M)
        assert len(set(urls)) == 2 and all(int(p) > 0 for p in urls)
        client = Client(f"http://127.0.0.1:{urls[0]}", key)
        statuses = [client.get("/my/machines").status for _ in range(35)]
        assert 429 in statuses
        client.close()
    finally:
        finish(proc)


@pytest.mark.parametrize("args, message", [
    (["--key", "/nonexistent.pub"], "cannot read key file /nonexistent.pub"),
    (["--reset"], "--reset only makes sense with --state FILE"),
    (["--datacenters", ","], "--datacenters needs at least one name"),
    (["--port", "65535", "--datacenters", "a,b"], "leaves no room"),
    (["--machines", "-1"], "machines must be a whole number"),
    (["--datacenters", "bad name"], "datacenter name 'bad name' is not valid"),
])
def test_bad_arguments_exit_2_with_a_message(args, message, capsys):
    import argparse

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert run(parser.parse_args(args)) == 2
    assert message in capsys.readouterr().err


def test_a_private_key_file_is_refused(triton_keys, capsys):
    import argparse

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert run(parser.parse_args(["--key", str(triton_keys["rsa"].private)])) == 2
    assert "give the .pub file" in capsys.readouterr().err


def test_port_in_use(triton_keys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = spawn("--port", str(port), "--key", str(triton_keys["rsa"].public), "--machines", "0")
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in err
        # what to do, not only what went wrong: the port is another process's
        assert err.rstrip().endswith("give another --port, or leave it out to have free "
                                     "ports picked"), err


def test_the_lead_cli_wires_the_subcommand():
    from smartdc_nb.cli import build_parser

    args = build_parser().parse_args(["emulator", "--machines", "7", "--datacenters", "x,y"])
    assert (args.machines, args.datacenters, args._module) == (7, "x,y", "smartdc_nb.emulator.cli")


def test_no_verify_serves_unsigned_requests():
    proc = spawn("--no-verify", "--machines", "2")
    try:
        lines = first_lines(proc, "Ctrl-C")
        assert any("no --key given" in line for line in lines)
        url = re.search(r"(http://\S+)", "\n".join(lines)).group(1)
        client = Client(url, None)
        assert eventually(lambda: client.get("/my/machines", signed=False).status == 200)
        client.close()
    finally:
        finish(proc)


@pytest.mark.parametrize("round_", range(3))
def test_a_burst_of_signals_stops_it_cleanly_without_deadlock(triton_keys, round_):
    # `timeout` signals the child and its group, and a held Ctrl-C repeats: a second signal
    # arriving while the first handler runs must not deadlock (a handler that takes a lock,
    # like threading.Event.set, re-entered on the same thread, waits for itself forever).
    import os
    import time

    key = triton_keys["rsa"]
    proc = spawn("--port", "0", "--key", str(key.public), "--machines", "1")
    try:
        first_lines(proc, "Ctrl-C")
        sent, deadline = 0, time.monotonic() + 5
        while proc.poll() is None and time.monotonic() < deadline:  # a storm until it is gone
            try:
                os.kill(proc.pid, (signal.SIGTERM, signal.SIGINT)[sent % 2])
                sent += 1
            except ProcessLookupError:
                break
        try:
            out, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate(timeout=5)
            pytest.fail(f"the emulator hung after {sent} signals (deadlocked in its handler)")
        assert proc.returncode == 0, (proc.returncode, err[-2000:])
        assert "stopped" in out and "Traceback" not in err
    finally:
        finish(proc)


def test_stop_signals_without_sigtimedwait_use_a_lock_free_handler():
    # macOS has no sigtimedwait: there a handler that only appends to a list is used
    import os

    from smartdc_nb.emulator.cli import StopSignals

    before = signal.getsignal(signal.SIGTERM)
    stop = StopSignals()
    stop._masked = False
    with stop:
        assert not stop.wait(0.01)
        for _ in range(20):
            os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(0.01) and set(stop.received) == {signal.SIGTERM}
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_frozen_emulator_continued_keeps_serving(triton_keys):
    # SIGSTOP then SIGCONT (a hung cloud, in a test): sigtimedwait is interrupted, and CPython
    # then hands back a siginfo of garbage once its timeout has passed - it is no stop signal
    import os
    import time

    key = triton_keys["rsa"]
    proc = spawn("--port", "0", "--key", str(key.public), "--machines", "1")
    try:
        first_lines(proc, "Ctrl-C")
        os.kill(proc.pid, signal.SIGSTOP)
        time.sleep(1.0)                      # past the 0.5 s the signal wait takes
        os.kill(proc.pid, signal.SIGCONT)
        time.sleep(1.0)
        assert proc.poll() is None, finish(proc)
        proc.send_signal(signal.SIGTERM)
        code, out, err = finish(proc)
        assert code == 0 and "stopped" in out
    finally:
        finish(proc)
