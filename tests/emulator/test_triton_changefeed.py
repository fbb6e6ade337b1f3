"""``triton changefeed`` (the official CLI, 7.17.0) against the emulator's feed."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time

import pytest
from polling import eventually

from smartdc_nb.emulator.testing import TRITON, cli_home

pytestmark = [pytest.mark.triton_cli, pytest.mark.slow]  # Node starts for every command


class Feed:
    """``triton changefeed ARGS`` running in the background, its lines in a queue."""

    def __init__(self, emu, keys, home, *args: str):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("TRITON_", "SDC_")) and k != "SSH_AUTH_SOCK"}
        env.update(HOME=str(home), TRITON_URL=emu.url, TRITON_ACCOUNT="demo",
                   TRITON_KEY_ID=keys["rsa"].md5)
        self.proc = subprocess.Popen([str(TRITON), "changefeed", *args], env=env, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def take(self, count: int, timeout: float = 20.0) -> list[str]:
        out, deadline = [], time.monotonic() + timeout
        while len(out) < count:
            try:
                out.append(self.lines.get(timeout=max(0.01, deadline - time.monotonic())))
            except queue.Empty:
                raise AssertionError(f"got {out} of {count} lines; stderr: "
                                     f"{self.proc.stderr.read1(4096) if self.proc.poll() is not None else ''}")
        return out

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def registered(emu, count: int = 1) -> bool:
    return sum(s["registered"] for s in emu.changefeed.status()["sockets"]) >= count


@pytest.fixture
def feed(emu, triton_cli, triton_keys, tmp_path):
    """Start ``triton changefeed``; every feed started is ended after the test."""
    started = []
    home = cli_home(triton_keys, tmp_path / "feed")

    def start(*args: str) -> Feed:
        running = Feed(emu, triton_keys, home, *args)
        started.append(running)
        eventually(lambda: registered(emu, len(started)), 30, "triton changefeed to register")
        return running

    yield start
    for running in started:
        running.close()


def test_changefeed_json_with_instances(emu, feed, triton_cli, machine_id):
    other = emu.datacenter("us-east-1").put_machine(name="not-watched")
    watching = feed("-j", "--instances", machine_id)
    dc = emu.datacenter("us-east-1")
    dc.set_state(other, "stopped")                         # not in --instances: never printed
    assert triton_cli("instance", "tag", "set", "-w", machine_id, "env=prod")[0] == 0
    assert triton_cli("instance", "stop", "-w", machine_id)[0] == 0
    messages = [json.loads(line) for line in watching.take(3)]
    assert {m["changedResourceId"] for m in messages} == {machine_id}
    assert [m["changeKind"] for m in messages] == [
        {"resource": "vm", "subResources": ["tags"]},
        {"resource": "vm", "subResources": ["state"]},
        {"resource": "vm", "subResources": ["state"]}]
    assert messages[0]["resourceObject"]["tags"] == {"role": "web", "env": "prod"}
    assert [m["resourceState"] for m in messages[1:]] == ["stopping", "stopped"]
    assert messages[2]["resourceObject"]["state"] == "stopped"
    assert messages[2]["resourceObject"]["name"] == "fixture-vm"
    published = [int(m["published"]) for m in messages]
    assert published == sorted(published) and abs(published[-1] / 1000 - time.time()) < 60
    dc.set_state(machine_id, "failed")                     # the admin side is published too
    forced = json.loads(watching.take(1)[0])
    assert (forced["resourceState"], forced["changeKind"]["subResources"]) == ("failed", ["state"])
    assert watching.lines.empty()


def test_changefeed_text_and_drop(emu, feed, triton_cli, machine_id):
    watching = feed()
    assert triton_cli("instance", "rename", "-w", machine_id, "renamed-vm")[0] == 0
    lines = watching.take(5)
    assert lines[0].startswith("Change (20") and lines[0].endswith(") =>")
    assert lines[1].strip() == "modified: alias"
    assert lines[2].strip() == "state: running"
    assert lines[4].strip() == f"object: {machine_id[:8]}"
    assert emu.changefeed.drop() == 1                      # the upstream feed ended: CLI ends
    assert watching.proc.wait(20) == 0
    assert not emu.changefeed.status()["sockets"]


def test_changefeed_refused_without_feed(emu, triton_cli):
    emu.changefeed.configure(enabled=False)
    code, _, err = triton_cli("changefeed", timeout=60)
    assert code == 1 and "NotFoundError" in err  # the upgrade is answered 404, as without a feed
