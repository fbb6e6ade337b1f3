"""The demo cloud: ``connect("demo")`` and ``smartdc-nb demo``, as real processes.

Every test gets its own demo directory (``SMARTDC_NB_DEMO_DIR``) and runs the
client in a subprocess, because the embedded cloud lives as long as the
process that started it: the tests check it starts, serves, is shared, keeps
its state, and leaves nothing behind (processes, ports, running.json).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from demo_processes import emulator_pids, free_port, gone, read_until, refuses, start_demo, stop_demo
from polling import eventually
import requests

from smartdc_nb import demo
from smartdc_nb.errors import ConfigError

# real processes: the demo cloud, JupyterLab, clients started as scripts
pytestmark = pytest.mark.slow

CONNECT = """\
import json, sys, smartdc_nb
dc = smartdc_nb.connect("demo")
name = dc.name  # known from the profile, before any request
print(json.dumps({"url": dc.url, "name": name, "datacenters": sorted(dc.datacenters()),
                  "machines": dc.num_machines(), "profile": dc.profile.name}), flush=True)
"""


def client(env, code: str) -> subprocess.Popen:
    """A Python process running ``code``, then waiting for its stdin to close."""
    script = code + "\nsys.stdin.read()\n"
    return subprocess.Popen([sys.executable, "-c", script], env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def first_line(proc: subprocess.Popen) -> dict:
    line = proc.stdout.readline()
    assert line, proc.stderr.read()
    return json.loads(line)


def finish(proc: subprocess.Popen) -> None:
    proc.stdin.close()
    assert proc.wait(30) == 0, proc.stderr.read()


def test_connect_starts_an_embedded_cloud_that_ends_with_its_process(demo_env):
    demo_dir = Path(demo_env["SMARTDC_NB_DEMO_DIR"])
    proc = client(demo_env, CONNECT)
    seen = first_line(proc)
    assert seen["profile"] == "demo"
    assert seen["datacenters"] == sorted(demo.DATACENTERS)
    assert 0 < seen["machines"] <= 8  # SMARTDC_NB_DEMO_MACHINES (tombstones are not listed)
    running = json.loads((demo_dir / "running.json").read_text())
    assert list(running["urls"].values())[0] == seen["url"]
    assert list(running["urls"])[0] == seen["name"]  # the card names its datacenter at once
    assert emulator_pids(demo_dir) == [running["pid"]]
    assert (demo_dir / "id_ed25519").stat().st_mode & 0o777 == 0o600
    assert (demo_dir / "state.sqlite").is_file()

    # while it serves, `smartdc-nb demo` refuses to start a second cloud on the same state
    second = subprocess.run([sys.executable, "-m", "smartdc_nb.cli", "demo", "--no-browser"],
                            env=demo_env, capture_output=True, text=True, timeout=60)
    assert second.returncode == 1
    assert f"a demo cloud (process {running['pid']}) is already serving" in second.stderr

    finish(proc)
    eventually(lambda: gone(running["pid"]), 15, what="the embedded cloud to exit with its parent")
    assert all(refuses(url) for url in running["urls"].values())
    assert not (demo_dir / "running.json").exists()


def test_two_processes_share_one_cloud(demo_env):
    demo_dir = Path(demo_env["SMARTDC_NB_DEMO_DIR"])
    first, second = client(demo_env, CONNECT), client(demo_env, CONNECT)  # at the same time
    try:
        assert first_line(first)["url"] == first_line(second)["url"]
        assert len(emulator_pids(demo_dir)) == 1
    finally:
        finish(first)
        finish(second)
    eventually(lambda: not emulator_pids(demo_dir), 15, what="the cloud to exit")


def test_state_survives_the_process_that_started_the_cloud(demo_env):
    change = CONNECT + textwrap.dedent("""\
        import time
        mid = next(m["id"] for m in dc.raw_machines(state="running"))
        dc.request("PUT", "machines", mid, "tags", json={"kept": "yes"})
        while dc.request("GET", "machines", mid, "tags").data.get("kept") != "yes":
            time.sleep(0.05)
        print(mid, flush=True)
        """)
    proc = client(demo_env, change)
    before = first_line(proc)
    mid = proc.stdout.readline().strip()
    finish(proc)
    demo_dir = Path(demo_env["SMARTDC_NB_DEMO_DIR"])
    eventually(lambda: not emulator_pids(demo_dir), 15, what="the first cloud to exit")

    proc = client(demo_env, CONNECT + f'print(dc.request("GET", "machines", "{mid}", "tags").data)')
    after = first_line(proc)
    assert after["machines"] == before["machines"]
    assert "'kept': 'yes'" in proc.stdout.readline()
    finish(proc)


def test_a_stale_running_file_is_replaced(demo_env):
    demo_dir = Path(demo_env["SMARTDC_NB_DEMO_DIR"])
    demo_dir.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (demo_dir / "running.json").write_text(json.dumps(
        {"urls": {"us-east-1": "http://127.0.0.1:9"}, "pid": dead.pid}))
    proc = client(demo_env, CONNECT)
    assert first_line(proc)["url"] != "http://127.0.0.1:9"
    finish(proc)


def test_scripts_run_back_to_back_never_reuse_a_cloud_whose_parent_is_gone(demo_env):
    # Each script's embedded cloud outlives it by up to half a second (it polls its parent);
    # the next script must start its own cloud instead of using one that is about to vanish.
    script = CONNECT.replace("name = dc.name", "import time; time.sleep(1); name = dc.name").replace(
        '"machines": dc.num_machines()', '"machines": len(smartdc_nb.Fleet(dc).machines())')
    for run in range(5):
        started = time.monotonic()
        try:
            done = subprocess.run([sys.executable, "-c", script], env=demo_env, text=True,
                                  capture_output=True, timeout=40)
        except subprocess.TimeoutExpired:
            pytest.fail(f"run {run + 1} of 5 hung (it used the previous run's dying cloud)")
        assert done.returncode == 0, f"run {run + 1} of 5 failed:\n{done.stderr[-3000:]}"
        assert json.loads(done.stdout)["machines"] > 0
        assert time.monotonic() - started < 30, f"run {run + 1} took {time.monotonic() - started:.0f} s"


def test_bad_embedded_settings_are_named(demo_env, monkeypatch):
    monkeypatch.setenv("SMARTDC_NB_DEMO_SPEED", "fast")
    with pytest.raises(ConfigError, match=r"SMARTDC_NB_DEMO_SPEED='fast' is not a valid float"):
        demo.demo_profile()
    assert not emulator_pids(Path(demo_env["SMARTDC_NB_DEMO_DIR"]))


@pytest.mark.parametrize("args, message", [
    (["--port", "70000"], "--port 70000 is not a TCP port (1-65535)"),
    (["--speed", "0"], "--speed 0: give a factor > 0"),
    (["--notebooks", "/nonexistent"], "--notebooks /nonexistent: no such folder"),
])
def test_demo_command_refuses_bad_arguments(demo_env, args, message):
    proc = subprocess.run([sys.executable, "-m", "smartdc_nb.cli", "demo", "--no-browser", *args],
                          env=demo_env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"smartdc-nb demo: {message}")


@pytest.mark.slow
def test_demo_command_serves_notebooks_a_demo_profile_and_stops_cleanly(demo_env, tmp_path):
    from jupyter_client import BlockingKernelClient

    demo_dir = Path(demo_env["SMARTDC_NB_DEMO_DIR"])
    port = free_port()
    proc = start_demo(demo_env, port)
    try:
        lines = read_until(proc, "Ctrl-C to stop")
        text = "".join(lines)
        running = json.loads((demo_dir / "running.json").read_text())
        for name, url in running["urls"].items():
            assert f"{name}" in text and url in text
        lab_url = next(line.strip() for line in lines if "?token=" in line)
        assert lab_url.startswith(f"http://127.0.0.1:{port}/lab/tree/01-fleet-overview.ipynb?token=")
        token = lab_url.rsplit("=", 1)[1]
        server_pid = json.loads(next(Path(demo_env["JUPYTER_RUNTIME_DIR"]).glob("jpserver-*.json"))
                                .read_text())["pid"]

        # the token is required; with it, the server lists the notebooks
        base = f"http://127.0.0.1:{port}"
        assert requests.get(f"{base}/api/contents", timeout=10).status_code == 403
        auth = {"Authorization": f"token {token}"}
        listing = requests.get(f"{base}/api/contents", headers=auth, timeout=10).json()
        assert "01-fleet-overview.ipynb" in {item["name"] for item in listing["content"]}
        # no "Jupyter news?" pop-up over the demo, no update check (defaults the user may override)
        notification = requests.get(
            f"{base}/lab/api/settings/@jupyterlab/apputils-extension:notification",
            headers=auth, timeout=10).json()
        defaults = {name: spec["default"] for name, spec in notification["schema"]["properties"].items()}
        assert defaults["fetchNews"] == "false" and defaults["checkForUpdates"] is False
        # a workspace of this run only: no tabs of an earlier session come back
        workspaces = requests.get(f"{base}/lab/api/workspaces", headers=auth, timeout=10).json()
        assert workspaces["workspaces"]["ids"] == []

        # a kernel of that server gets a working demo profile: the command's cloud
        kernel = requests.post(f"{base}/api/kernels", json={"name": "python3"}, headers=auth,
                               timeout=30).json()
        connection = Path(demo_env["JUPYTER_RUNTIME_DIR"]) / f"kernel-{kernel['id']}.json"
        eventually(connection.exists, 30, "the kernel's connection file")
        kc = BlockingKernelClient(connection_file=str(connection))
        kc.load_connection_file()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=60)
            out = []
            reply = kc.execute_interactive(
                CONNECT + "import os; print(os.getpid())", timeout=60,
                output_hook=lambda msg: out.append(msg["content"]["text"])
                if msg["msg_type"] == "stream" else None)
        finally:
            kc.stop_channels()
        assert reply["content"]["status"] == "ok", out
        printed = "".join(out).splitlines()
        seen, kernel_pid = json.loads(printed[0]), int(printed[1])
        assert seen["url"] == list(running["urls"].values())[0]
        assert seen["datacenters"] == sorted(running["urls"])
        assert emulator_pids(demo_dir) == [running["pid"]]  # no second, embedded cloud

        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0, proc.stderr.read()
        assert proc.stdout.read().strip().endswith("smartdc-nb demo: stopped")
    finally:
        stop_demo(proc)
    for pid, what in ((running["pid"], "emulator"), (server_pid, "JupyterLab"), (kernel_pid, "kernel")):
        assert gone(pid), f"the {what} (pid {pid}) is still running"
    assert all(refuses(url) for url in [*running["urls"].values(), base])
    assert not (demo_dir / "running.json").exists()
    assert not list(Path(demo_env["JUPYTER_RUNTIME_DIR"]).glob("jpserver-*.json"))


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="JupyterLab follows a killed demo on Linux only")
def test_a_killed_demo_command_leaves_nothing_running(demo_env):
    demo_dir = Path(demo_env["SMARTDC_NB_DEMO_DIR"])
    port = free_port()
    proc = start_demo(demo_env, port)
    try:
        read_until(proc, "Ctrl-C to stop")
        cloud = json.loads((demo_dir / "running.json").read_text())
        server = json.loads(next(Path(demo_env["JUPYTER_RUNTIME_DIR"]).glob("jpserver-*.json"))
                            .read_text())
        proc.kill()  # no chance to clean up
        proc.wait()
        eventually(lambda: gone(cloud["pid"]) and gone(server["pid"]), 30,
                   "the cloud and JupyterLab to follow the killed command")
        assert all(refuses(url) for url in [*cloud["urls"].values(), f"http://127.0.0.1:{port}"])
    finally:
        stop_demo(proc)


def test_a_storm_of_signals_stops_the_demo_command_cleanly(demo_env):
    # a held Ctrl-C, or `timeout` signalling the group: a handler that takes a lock
    # (threading.Event.set) deadlocks when a second signal re-enters it
    demo_dir = Path(demo_env["SMARTDC_NB_DEMO_DIR"])
    proc = start_demo(demo_env, free_port())
    try:
        read_until(proc, "Ctrl-C to stop")
        sent, deadline = 0, time.monotonic() + 5
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                os.kill(proc.pid, (signal.SIGINT, signal.SIGTERM)[sent % 2])
                sent += 1
            except ProcessLookupError:
                break
        try:
            out, err = proc.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the demo command hung after {sent} signals")
        assert proc.returncode == 0, err[-2000:]
        assert "smartdc-nb demo: stopped" in out and "Traceback" not in err
        eventually(lambda: not emulator_pids(demo_dir), 30, what="the demo cloud to stop")
    finally:
        stop_demo(proc)
