"""Shared pieces of the signing tests: key files, the Node http-signature verifier, a real ssh-agent.

Imported by the tests/test_auth_*.py modules (pytest puts tests/ on sys.path);
it holds fixtures and helpers only, no tests.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives import serialization as ser
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

NODE_DIR = Path(__file__).parent / "node"
VERIFY_SERVER = NODE_DIR / "verify-server.js"
PASSPHRASE = "correct horse"

# kind -> (key factory, private format, encrypted?). Writing and reading encrypted
# OpenSSH keys needs the bcrypt package (a runtime dependency for the same reason).
_KINDS = {
    "rsa-pkcs1": (lambda: rsa.generate_private_key(65537, 2048), ser.PrivateFormat.TraditionalOpenSSL, False),
    "rsa-pkcs8": (lambda: rsa.generate_private_key(65537, 2048), ser.PrivateFormat.PKCS8, False),
    "rsa-openssh": (lambda: rsa.generate_private_key(65537, 3072), ser.PrivateFormat.OpenSSH, False),
    "p256-sec1": (lambda: ec.generate_private_key(ec.SECP256R1()), ser.PrivateFormat.TraditionalOpenSSL, False),
    "p256-openssh": (lambda: ec.generate_private_key(ec.SECP256R1()), ser.PrivateFormat.OpenSSH, False),
    "p521-pkcs8": (lambda: ec.generate_private_key(ec.SECP521R1()), ser.PrivateFormat.PKCS8, False),
    "p521-openssh": (lambda: ec.generate_private_key(ec.SECP521R1()), ser.PrivateFormat.OpenSSH, False),
    "ed25519-openssh": (ed25519.Ed25519PrivateKey.generate, ser.PrivateFormat.OpenSSH, False),
    "ed25519-pkcs8": (ed25519.Ed25519PrivateKey.generate, ser.PrivateFormat.PKCS8, False),
    "rsa-pkcs1-encrypted": (lambda: rsa.generate_private_key(65537, 2048), ser.PrivateFormat.TraditionalOpenSSL, True),
    "rsa-pkcs8-encrypted": (lambda: rsa.generate_private_key(65537, 2048), ser.PrivateFormat.PKCS8, True),
    "ed25519-openssh-encrypted": (ed25519.Ed25519PrivateKey.generate, ser.PrivateFormat.OpenSSH, True),
    "p384": (lambda: ec.generate_private_key(ec.SECP384R1()), ser.PrivateFormat.OpenSSH, False),
}
ALGORITHM = {
    "rsa-pkcs1": "rsa-sha256", "rsa-pkcs8": "rsa-sha256", "rsa-openssh": "rsa-sha256",
    "p256-sec1": "ecdsa-sha256", "p256-openssh": "ecdsa-sha256",
    "p521-pkcs8": "ecdsa-sha512", "p521-openssh": "ecdsa-sha512",
    "ed25519-openssh": "ed25519-sha512", "ed25519-pkcs8": "ed25519-sha512",
    "rsa-pkcs1-encrypted": "rsa-sha256", "rsa-pkcs8-encrypted": "rsa-sha256",
    "ed25519-openssh-encrypted": "ed25519-sha512",
}
PLAIN_KINDS = [k for k, (_, _, enc) in _KINDS.items() if not enc and k != "p384"]


@dataclass(frozen=True)
class KeyFile:
    kind: str
    path: Path          # private key
    pub: Path           # OpenSSH public key line file beside it
    line: str           # the public key line
    encrypted: bool


def write_key(directory: Path, kind: str, name: str | None = None, with_pub: bool = True) -> KeyFile:
    """Generate a key of ``kind`` into ``directory/name`` (mode 0600) and its ``.pub``."""
    factory, fmt, encrypted = _KINDS[kind]
    key = factory()
    enc = ser.BestAvailableEncryption(PASSPHRASE.encode()) if encrypted else ser.NoEncryption()
    encoding = ser.Encoding.PEM
    path = directory / (name or kind)
    path.write_bytes(key.private_bytes(encoding, fmt, enc))
    path.chmod(0o600)
    line = key.public_key().public_bytes(ser.Encoding.OpenSSH, ser.PublicFormat.OpenSSH).decode()
    pub = path.with_name(path.name + ".pub")
    if with_pub:
        pub.write_text(line + f" {kind}@smartdc-nb-test\n")
    return KeyFile(kind, path, pub, line, encrypted)


@pytest.fixture(scope="session")
def keyset(tmp_path_factory) -> dict[str, KeyFile]:
    """One key file of every kind the tests use (plain, encrypted, P-384), generated once."""
    directory = tmp_path_factory.mktemp("keys")
    return {kind: write_key(directory, kind) for kind in _KINDS}


def require_tool(what: str):
    """Skip for want of a tool, or fail when SMARTDC_NB_REQUIRE_TRITON=1 (as in CI)."""
    if os.environ.get("SMARTDC_NB_REQUIRE_TRITON") == "1":
        pytest.fail(f"{what} (SMARTDC_NB_REQUIRE_TRITON=1 forbids skipping)")
    pytest.skip(what)


class NodeVerifier:
    """The running verify-server.js process and its base URL."""

    def __init__(self, process: subprocess.Popen, port: int):
        self.process = process
        self.url = f"http://127.0.0.1:{port}"


def start_node_verifier(public_lines: list[str], directory: Path) -> NodeVerifier:
    node = shutil.which("node")
    if node is None:
        require_tool("node is not installed")
    if not (NODE_DIR / "node_modules" / "http-signature").is_dir():
        require_tool("tests/node/node_modules/http-signature is missing (run ./dev test or npm ci in tests/node)")
    keys_file = directory / "verifier-keys.json"
    keys_file.write_text(json.dumps(public_lines))
    process = subprocess.Popen(
        [node, str(VERIFY_SERVER), str(keys_file), "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    line = process.stdout.readline()
    if not line:
        process.kill()
        raise RuntimeError(f"verify-server.js did not start: {process.stderr.read()}")
    return NodeVerifier(process, json.loads(line)["port"])


def stop_process(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    for stream in (process.stdout, process.stderr):
        if stream:
            stream.close()


@pytest.fixture(scope="session")
def node_verifier(keyset, tmp_path_factory):
    """verify-server.js on 127.0.0.1 knowing every generated key (P-384 included: it cannot sign anyway)."""
    verifier = start_node_verifier([k.line for k in keyset.values()], tmp_path_factory.mktemp("verifier"))
    yield verifier
    stop_process(verifier.process)


def signed_get(auth, url: str, **kwargs) -> requests.Response:
    with requests.Session() as session:
        session.auth = auth
        return session.get(url, timeout=10, **kwargs)


def statuses_from_threads(auth, url: str, threads: int = 8, each: int = 5) -> list[int]:
    """Status codes of ``threads`` x ``each`` signed GETs, one shared ``auth``, a session per thread."""
    from concurrent.futures import ThreadPoolExecutor

    def worker(n: int) -> list[int]:
        with requests.Session() as session:
            session.auth = auth
            return [session.get(f"{url}?worker={n}&i={i}", timeout=10).status_code for i in range(each)]

    with ThreadPoolExecutor(threads) as pool:
        return [status for batch in pool.map(worker, range(threads)) for status in batch]


def start_ssh_agent(sock: Path) -> subprocess.Popen:
    """A real ssh-agent in the foreground (-D) on ``sock``, once it accepts connections."""
    agent = shutil.which("ssh-agent")
    if agent is None or shutil.which("ssh-add") is None:
        require_tool("ssh-agent/ssh-add (the OpenSSH client) are not installed")
    process = subprocess.Popen([agent, "-D", "-a", str(sock)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while not sock.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            stop_process(process)
            raise RuntimeError("ssh-agent did not start")
        time.sleep(0.01)
    return process


@pytest.fixture
def ssh_agent(tmp_path):
    """A real ssh-agent on a private socket (the ``SSH_AUTH_SOCK`` value); killed after the test."""
    process = start_ssh_agent(tmp_path / "agent.sock")
    try:
        yield str(tmp_path / "agent.sock")
    finally:
        stop_process(process)


def ssh_add(sock: str, key: KeyFile) -> None:
    """Add a key file to the agent at ``sock`` (the encrypted ones via SSH_ASKPASS, never a tty)."""
    env = {**os.environ, "SSH_AUTH_SOCK": sock}
    if key.encrypted:
        askpass = key.path.parent / "askpass.sh"
        askpass.write_text(f"#!/bin/sh\necho '{PASSPHRASE}'\n")
        askpass.chmod(0o700)
        env.update(SSH_ASKPASS=str(askpass), SSH_ASKPASS_REQUIRE="force", DISPLAY=":0")
    done = subprocess.run(["ssh-add", str(key.path)], env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=20)
    if done.returncode:
        raise RuntimeError(f"ssh-add {key.path} failed: {done.stderr.strip()}")
