"""What bounding every request costs, and what it saves (smartdc_nb.limits).

Prints, against an emulator seeded with 1,000 machines:

* GetMachine and full-page ListMachines (1,000 machines) times per request for a
  plain ``requests`` session (``resp.json()``, the baseline), then the Transport
  with the limits off (``request_timeout=None, max_answer_bytes=None``), then on
  (the defaults: watchdog, shrinking timeouts, streamed and counted body), and
  the ratios against the baseline;
* the peak memory of reading a gzip bomb (~260 KB inflating to 256 MiB) with a
  plain session (the baseline) and with the Transport's default limit, and
  their ratio.

Run: ``python benchmarks/bench_limits.py`` (about half a minute).
"""

from __future__ import annotations

import socket
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc
import zlib
from pathlib import Path

import requests

from smartdc_nb.auth import HTTPSignatureAuth, KeyFileSigner
from smartdc_nb.emulator import Emulator
from smartdc_nb.emulator.testing import make_keys
from smartdc_nb.errors import AnswerTooLargeError
from smartdc_nb.transport import Transport


def per_request(calls, repeat: int) -> list[float]:
    """Median milliseconds of each of ``calls`` over ``repeat`` rounds (after a warm-up).

    The calls take turns within each round, so a busy machine slows them alike.
    """
    times: list[list[float]] = [[] for _ in calls]
    for call in calls:
        call()
    for _ in range(repeat):
        for call, spent in zip(calls, times):
            started = time.perf_counter()
            call()
            spent.append((time.perf_counter() - started) * 1000)
    return [statistics.median(spent) for spent in times]


def bomb_server(data: bytes) -> tuple[socket.socket, threading.Event]:
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                sock, _ = listener.accept()
            except OSError:
                continue
            with sock:
                head = b""
                while b"\r\n\r\n" not in head:
                    head += sock.recv(65536)
                try:
                    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                 b"Content-Encoding: gzip\r\nConnection: close\r\n"
                                 b"Content-Length: %d\r\n\r\n" % len(data) + data)
                except OSError:
                    pass

    threading.Thread(target=serve, daemon=True).start()
    return listener, stop


def peak_mib(call) -> float:
    tracemalloc.start()
    try:
        call()
    except AnswerTooLargeError:
        pass
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def main() -> int:
    keys = make_keys(Path(tempfile.mkdtemp()) / "keys")
    key = keys["rsa"]
    emu = Emulator(accounts={"demo": [key.public_line]}, machines=1000, seed=0).start()
    try:
        url = emu.url
        signer = KeyFileSigner(key.private)
        plain = requests.Session()
        plain.auth = HTTPSignatureAuth(signer, "demo")
        plain.headers["Accept-Version"] = "~9||~8"
        off = Transport(url, HTTPSignatureAuth(signer, "demo"), request_timeout=None,
                        max_answer_bytes=None)
        on = Transport(url, HTTPSignatureAuth(signer, "demo"))
        machine = off.get("/demo/machines", limit=1)[0]["id"]
        one = f"/demo/machines/{machine}"
        page = {"limit": 1000, "offset": 0}
        cases = [("GetMachine", one, {}, 200), ("ListMachines 1000", "/demo/machines", page, 20)]
        print(f"{'request':<20}{'requests (ms)':>15}{'limits off':>12}{'limits on':>12}"
              f"{'on/requests':>13}{'on/off':>9}")
        for name, path, params, repeat in cases:
            base, t_off, t_on = per_request(
                [lambda: plain.get(url + path, params=params).json(),
                 lambda: off.request("GET", path, params=params),
                 lambda: on.request("GET", path, params=params)], repeat)
            print(f"{name:<20}{base:>15.2f}{t_off:>12.2f}{t_on:>12.2f}{t_on / base:>13.2f}"
                  f"{t_on / t_off:>9.2f}")
    finally:
        emu.close()

    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    data = b"".join(packer.compress(bytes(2**20)) for _ in range(256)) + packer.flush()
    listener, stop = bomb_server(data)
    bomb_url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    try:
        baseline = peak_mib(lambda: requests.get(bomb_url + "/x").content)
        bounded = Transport(bomb_url, None)
        limited = peak_mib(lambda: bounded.request("GET", "/x"))
    finally:
        stop.set()
        listener.close()
    print(f"gzip bomb of {len(data) / 1024:.0f} KB inflating to 256 MiB: peak memory "
          f"{baseline:.0f} MiB with requests, {limited:.0f} MiB with the default "
          f"max_answer_bytes (64 MiB); ratio {limited / baseline:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
