"""What request signing costs: per key type, and in a keep-alive round trip to a local server.

    python benchmarks/bench_signing.py [--server auto|node|emulator] [--quick]

Prints, for each key type, the median time to build one Authorization header
(signing string + signature + base64) from a key file and, when ssh-agent is
installed, through a real agent. Then round trips against a local server that
verifies signatures (the embedded emulator if it is importable, else the Node
http-signature verifier in tests/node): unsigned keep-alive (the baseline),
signed keep-alive, and signed on a new connection each time, with ratios to
the baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import requests
from cryptography.hazmat.primitives import serialization as ser
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from smartdc_nb.auth import AgentSigner, HTTPSignatureAuth, KeyFileSigner, http_date

ROOT = Path(__file__).resolve().parent.parent
NODE_DIR = ROOT / "tests" / "node"

KEYS = {
    "rsa-2048": lambda: rsa.generate_private_key(65537, 2048),
    "rsa-4096": lambda: rsa.generate_private_key(65537, 4096),
    "ecdsa-p256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "ecdsa-p521": lambda: ec.generate_private_key(ec.SECP521R1()),
    "ed25519": ed25519.Ed25519PrivateKey.generate,
}


def median_us(fn, runs: int) -> float:
    """Median wall time of ``fn()`` in microseconds over ``runs`` calls (after a short warm-up)."""
    for _ in range(min(20, runs)):
        fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        fn()
        samples.append(time.perf_counter_ns() - start)
    return statistics.median(samples) / 1000


def write_keys(directory: Path) -> dict[str, Path]:
    paths = {}
    for name, factory in KEYS.items():
        path = directory / name
        path.write_bytes(factory().private_bytes(ser.Encoding.PEM, ser.PrivateFormat.OpenSSH, ser.NoEncryption()))
        path.chmod(0o600)
        paths[name] = path
    return paths


@contextmanager
def ssh_agent(directory: Path, keys: dict[str, Path]):
    """A real ssh-agent holding ``keys``, or None when OpenSSH is not installed."""
    if not (shutil.which("ssh-agent") and shutil.which("ssh-add")):
        yield None
        return
    sock = directory / "agent.sock"
    process = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not sock.exists():
            time.sleep(0.01)
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
        for path in keys.values():
            subprocess.run(["ssh-add", str(path)], env=env, check=True, capture_output=True, stdin=subprocess.DEVNULL)
        yield str(sock)
    finally:
        process.terminate()
        process.wait()


@contextmanager
def node_server(public_lines: list[str], directory: Path):
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "http-signature").is_dir():
        raise SystemExit("the Node verifier needs node and tests/node/node_modules (run ./dev test once)")
    keys_file = directory / "keys.json"
    keys_file.write_text(json.dumps(public_lines))
    process = subprocess.Popen([node, str(NODE_DIR / "verify-server.js"), str(keys_file), "0"],
                               stdout=subprocess.PIPE, text=True)
    try:
        port = json.loads(process.stdout.readline())["port"]
        yield f"http://127.0.0.1:{port}", "node http-signature verifier (tests/node/verify-server.js)"
    finally:
        process.terminate()
        process.wait()
        process.stdout.close()


@contextmanager
def emulator_server(public_lines: list[str]):
    from smartdc_nb.emulator import Emulator

    with Emulator(accounts={"demo": public_lines}, machines=0) as emu:
        yield emu.url, "smartdc_nb.emulator"


def emulator_available() -> bool:
    try:
        from smartdc_nb.emulator import Emulator  # noqa: F401
    except ImportError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", choices=("auto", "node", "emulator"), default="auto")
    parser.add_argument("--quick", action="store_true", help="fewer runs (a smoke test of the script)")
    args = parser.parse_args(argv)
    scale = 0.1 if args.quick else 1.0
    runs = {"fast": int(2000 * scale) or 20, "slow": int(300 * scale) or 10, "trip": int(1000 * scale) or 20}

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        keys = write_keys(tmp)
        signers = {name: KeyFileSigner(path) for name, path in keys.items()}
        path, date = "/demo/machines?limit=1000&offset=0", http_date()

        print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus; median of many runs\n")
        print("Signing one request (Authorization header: signing string + signature + base64)")
        print(f"{'key':<12} {'file µs/op':>11} {'agent µs/op':>12} {'agent/file':>11}")
        with ssh_agent(tmp, {k: v for k, v in keys.items() if k != "rsa-4096"}) as sock:
            for name, signer in signers.items():
                n = runs["slow"] if name.startswith("rsa") else runs["fast"]
                auth = HTTPSignatureAuth(signer, "demo")
                file_us = median_us(lambda: auth.authorization("GET", path, date), n)
                agent_cell, ratio = "-", "-"
                if sock and name != "rsa-4096":
                    agent_auth = HTTPSignatureAuth(AgentSigner(signer.md5_fingerprint, sock), "demo")
                    agent_us = median_us(lambda: agent_auth.authorization("GET", path, date), runs["slow"])
                    agent_cell, ratio = f"{agent_us:.1f}", f"{agent_us / file_us:.2f}x"
                print(f"{name:<12} {file_us:>11.1f} {agent_cell:>12} {ratio:>11}")
            if not sock:
                print("(ssh-agent not installed: agent column skipped)")

        lines = [s.public_key_line for s in signers.values()]
        use_emulator = args.server == "emulator" or (args.server == "auto" and emulator_available())
        server = emulator_server(lines) if use_emulator else node_server(lines, tmp)
        with server as (url, label):
            print(f"\nRound trips to {label} at {url} (µs, median of {runs['trip']})")
            with requests.Session() as plain:
                baseline = median_us(lambda: plain.get(url + "/--ping", timeout=10).raise_for_status(), runs["trip"])
                connection = median_us(
                    lambda: plain.get(url + "/--ping", headers={"Connection": "close"}, timeout=10).raise_for_status(),
                    runs["trip"] // 2,
                )
            print(f"{'unsigned keep-alive GET /--ping (baseline)':<50} {baseline:>9.1f}   1.00x")
            print(f"{'unsigned, new connection each time':<50} {connection:>9.1f}   {connection / baseline:.2f}x")
            for name in ("ed25519", "ecdsa-p256", "rsa-2048"):
                with requests.Session() as session:
                    session.auth = HTTPSignatureAuth(signers[name], "demo")
                    target = url + "/demo/machines"
                    signed = median_us(lambda: session.get(target, timeout=10).raise_for_status(), runs["trip"])
                    fresh = median_us(
                        lambda: session.get(target, headers={"Connection": "close"}, timeout=10).raise_for_status(),
                        runs["trip"] // 2,
                    )
                print(f"{'signed keep-alive GET, ' + name:<50} {signed:>9.1f}   {signed / baseline:.2f}x")
                print(f"{'signed, new connection each time, ' + name:<50} {fresh:>9.1f}   {fresh / baseline:.2f}x")
    print("\nRatios are against the unsigned keep-alive round trip measured above; the signed"
          "\nrequests also pay the server's verification, the baseline does not.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
