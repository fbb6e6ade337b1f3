"""The embedded emulator as a second, independent verifier of the client's signatures.

The emulator's verifier is written from the spec and shares no code with
smartdc_nb.auth; they meet only over HTTP here.
"""

from __future__ import annotations

import pytest
import requests
from test_auth_support import PLAIN_KINDS, keyset, ssh_add, ssh_agent, write_key  # noqa: F401  (fixtures)

from smartdc_nb.auth import AgentSigner, HTTPSignatureAuth, KeyFileSigner

Emulator = pytest.importorskip("smartdc_nb.emulator").Emulator


@pytest.fixture(scope="module")
def signing_cloud(keyset):
    """An emulator whose account "demo" holds every plain test key, and a sub-user "ops" one of them."""
    lines = [keyset[k].line for k in PLAIN_KINDS]
    accounts = {"demo": {"keys": lines, "users": {"ops": {"keys": [keyset["ed25519-openssh"].line],
                                                          "can": ["listmachines"]}}}}
    with Emulator(accounts=accounts, machines=3, seed=1) as emu:
        yield emu


def get(auth, url):
    with requests.Session() as session:
        session.auth = auth
        session.headers["Accept-Version"] = "~9||~8"
        return session.get(url, timeout=10)


@pytest.mark.parametrize("kind", PLAIN_KINDS)
def test_every_key_type_is_accepted_by_the_emulator(kind, keyset, signing_cloud):
    auth = HTTPSignatureAuth(KeyFileSigner(keyset[kind].path), "demo")
    response = get(auth, signing_cloud.url + "/demo/machines?limit=2&offset=0")
    assert response.status_code == 200, response.text
    assert isinstance(response.json(), list) and len(response.json()) == 2


def test_sub_user_signature_is_accepted(keyset, signing_cloud):
    auth = HTTPSignatureAuth(KeyFileSigner(keyset["ed25519-openssh"].path), "demo", user="ops")
    response = get(auth, signing_cloud.url + "/my/machines?limit=1")
    assert response.status_code == 200, response.text


def test_unregistered_key_is_refused(signing_cloud, tmp_path):
    stranger = write_key(tmp_path, "ed25519-openssh")
    response = get(HTTPSignatureAuth(KeyFileSigner(stranger.path), "demo"), signing_cloud.url + "/demo")
    assert response.status_code == 401
    assert response.json()["code"] == "InvalidCredentials"


def test_agent_signature_is_accepted(keyset, signing_cloud, ssh_agent):
    ssh_add(ssh_agent, keyset["p521-openssh"])
    signer = AgentSigner(KeyFileSigner(keyset["p521-openssh"].path).sha256_fingerprint, ssh_agent)
    response = get(HTTPSignatureAuth(signer, "demo"), signing_cloud.url + "/demo")
    assert response.status_code == 200, response.text
    assert response.json()["login"] == "demo"
