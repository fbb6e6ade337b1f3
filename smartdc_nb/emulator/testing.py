"""pytest fixtures for testing against the emulator (a pytest plugin module).

Load it with ``pytest_plugins = ["smartdc_nb.emulator.testing"]`` in the
top-level ``conftest.py``. Fixtures:

``triton_keys`` (session)
    test key pairs generated with ``cryptography``: ``rsa`` (PKCS#1 PEM),
    ``rsa_openssh``, ``ecdsa_p256``, ``ecdsa_p521``, ``ed25519``,
    ``rsa_encrypted`` (OpenSSH, passphrase ``correct horse``), ``ops_ed25519``
    (the sub-user's key) and ``p384`` (never registered: CloudAPI cannot verify
    ecdsa-sha384). Each is a :class:`TestKey`.
``emulator`` (session)
    an :class:`~smartdc_nb.emulator.Emulator` with datacenters ``us-east-1``
    and ``us-west-1``, account ``demo`` holding every registered key, sub-user
    ``ops``, 20 seeded machines per datacenter and fast transitions
    (:data:`FAST_DURATIONS`, 0.1–0.5 s).
``emu`` (function)
    the session emulator reset to its seeded state, with no faults, an empty
    request log, throttling off and the fast durations.
``triton_cli`` (function)
    ``run(*args, key="rsa", datacenter=None, timeout=120) -> (code, stdout,
    stderr)``: the official CLI against ``emu`` with an isolated ``HOME``.
    Skips when the CLI is not installed, unless ``SMARTDC_NB_REQUIRE_TRITON=1``.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from . import Emulator

PASSPHRASE = "correct horse"
DATACENTERS = ("us-east-1", "us-west-1")
SEEDED_MACHINES = 20
#: transition durations used by the fixtures (seconds): short but non-zero
FAST_DURATIONS = {
    "provision": 0.4, "start": 0.25, "stop": 0.2, "reboot": 0.4, "destroy": 0.2, "resize": 0.2,
    "rename": 0.2, "firewall": 0.15, "deletion_protection": 0.15, "tags": 0.2, "metadata": 0.2,
    "create_snapshot": 0.3, "rollback_snapshot": 0.3, "delete_snapshot": 0.2, "failed_job": 0.15,
}
_REPO = Path(__file__).resolve().parents[2]
TRITON = Path(os.environ.get("SMARTDC_NB_TRITON") or _REPO / "tests/node/node_modules/.bin/triton")


@dataclass(frozen=True)
class TestKey:
    """A generated key pair and the facts tests need about it."""

    __test__ = False  # not a test class, despite the name

    name: str
    private: Path
    public: Path
    public_line: str
    md5: str          # aa:bb:... over the decoded public blob
    sha256: str       # SHA256:<unpadded base64>
    algorithm: str    # what http-signature calls its signatures, e.g. rsa-sha256
    passphrase: str | None = None

    @property
    def key_id(self) -> str:
        return f"/demo/keys/{self.md5}"


def _fingerprints(line: str) -> tuple[str, str]:
    blob = base64.b64decode(line.split()[1])
    md5 = hashlib.md5(blob).hexdigest()
    sha = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return ":".join(md5[i:i + 2] for i in range(0, 32, 2)), "SHA256:" + sha


def make_keys(directory: Path) -> dict[str, TestKey]:
    """Generate the test key pairs in ``directory`` (private files mode 0600)."""
    specs = [
        ("rsa", lambda: rsa.generate_private_key(65537, 2048), "pkcs1", "rsa-sha256"),
        ("rsa_openssh", lambda: rsa.generate_private_key(65537, 2048), "openssh", "rsa-sha256"),
        ("ecdsa_p256", lambda: ec.generate_private_key(ec.SECP256R1()), "openssh", "ecdsa-sha256"),
        ("ecdsa_p521", lambda: ec.generate_private_key(ec.SECP521R1()), "openssh", "ecdsa-sha512"),
        ("ed25519", ed25519.Ed25519PrivateKey.generate, "openssh", "ed25519-sha512"),
        ("rsa_encrypted", lambda: rsa.generate_private_key(65537, 2048), "encrypted", "rsa-sha256"),
        ("ops_ed25519", ed25519.Ed25519PrivateKey.generate, "openssh", "ed25519-sha512"),
        ("p384", lambda: ec.generate_private_key(ec.SECP384R1()), "openssh", "ecdsa-sha384"),
    ]
    directory.mkdir(parents=True, exist_ok=True)
    keys = {}
    for name, generate, form, algorithm in specs:
        key = generate()
        if form == "pkcs1":
            data = key.private_bytes(serialization.Encoding.PEM,
                                     serialization.PrivateFormat.TraditionalOpenSSL,
                                     serialization.NoEncryption())
        else:
            encryption = (serialization.BestAvailableEncryption(PASSPHRASE.encode())
                          if form == "encrypted" else serialization.NoEncryption())
            data = key.private_bytes(serialization.Encoding.PEM,
                                     serialization.PrivateFormat.OpenSSH, encryption)
        line = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                             serialization.PublicFormat.OpenSSH).decode()
        line = f"{line} smartdc_nb-test-{name}"
        private = directory / f"id_{name}"
        private.write_bytes(data)
        private.chmod(0o600)
        public = directory / f"id_{name}.pub"
        public.write_text(line + "\n")
        md5, sha256 = _fingerprints(line)
        keys[name] = TestKey(name, private, public, line, md5, sha256, algorithm,
                             PASSPHRASE if form == "encrypted" else None)
    return keys


#: the keys account "demo" holds (p384 cannot be verified; ops_ed25519 is the sub-user's)
ACCOUNT_KEYS = ("rsa", "rsa_openssh", "ecdsa_p256", "ecdsa_p521", "ed25519", "rsa_encrypted")


#: what the sub-user "ops" may do (its RBAC roles): read the account and its machines
OPS_CAN = ["getaccount", "listmachines", "getmachine"]


def make_emulator(keys: dict[str, TestKey], **overrides) -> Emulator:
    """The emulator the fixtures use (not started)."""
    options = dict(
        datacenters=DATACENTERS,
        accounts={"demo": {"keys": [keys[k].public_line for k in ACCOUNT_KEYS],
                           "users": {"ops": {"keys": [keys["ops_ed25519"].public_line],
                                             "can": OPS_CAN}}}},
        machines=SEEDED_MACHINES, seed=0, durations=FAST_DURATIONS,
    )
    options.update(overrides)
    return Emulator(**options)


@pytest.fixture(scope="session")
def triton_keys(tmp_path_factory) -> dict[str, TestKey]:
    return make_keys(tmp_path_factory.mktemp("triton_keys"))


@pytest.fixture(scope="session")
def emulator(triton_keys):
    emu = make_emulator(triton_keys).start()
    yield emu
    emu.close()


@pytest.fixture
def emu(emulator):
    emulator.clock.reset()  # before seeding, so the seeded times are the wall clock's too
    emulator.reset()
    emulator.faults.clear()
    emulator.clear_requests()
    emulator.set_throttle(None)
    emulator.set_clock_skew(0)
    emulator.set_speed(1.0)
    emulator.set_durations(**FAST_DURATIONS)
    emulator.changefeed.configure(enabled=True, delay=0, duplicate=0, register_delay=0)
    return emulator


def cli_home(keys: dict[str, TestKey], base: Path) -> Path:
    """An isolated ``HOME`` for the triton CLI: the unencrypted keys linked in ``.ssh``."""
    home = base / "home"
    ssh = home / ".ssh"
    ssh.mkdir(parents=True)
    ssh.chmod(0o700)
    for key in keys.values():
        if key.passphrase is None:
            (ssh / key.private.name).symlink_to(key.private)
            (ssh / key.public.name).symlink_to(key.public)
    return home


def triton_available() -> bool:
    return TRITON.exists() and shutil.which("node") is not None


@pytest.fixture
def triton_cli(emu, triton_keys, tmp_path) -> Callable[..., tuple[int, str, str]]:
    if not triton_available():
        message = f"the official triton CLI is not installed ({TRITON}); run ./dev test to install it"
        if os.environ.get("SMARTDC_NB_REQUIRE_TRITON") == "1":
            pytest.fail(message)
        pytest.skip(message)
    home = cli_home(triton_keys, tmp_path)
    base_env = {k: v for k, v in os.environ.items()
                if not k.startswith(("TRITON_", "SDC_")) and k != "SSH_AUTH_SOCK"}

    def run(*args: str, key: str = "rsa", datacenter: str | None = None, user: str | None = None,
            timeout: float = 120) -> tuple[int, str, str]:
        env = dict(base_env, HOME=str(home),
                   TRITON_URL=emu.urls[datacenter] if datacenter else emu.url,
                   TRITON_ACCOUNT="demo", TRITON_KEY_ID=triton_keys[key].md5)
        if user:
            env["TRITON_USER"] = user
        proc = subprocess.run([str(TRITON), *args], env=env, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
        return proc.returncode, proc.stdout, proc.stderr

    return run
