"""Signing through a real ssh-agent, checked by the Node http-signature verifier."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from test_auth_support import (  # noqa: F401  (fixtures)
    ALGORITHM, keyset, node_verifier, signed_get, ssh_add, ssh_agent, start_ssh_agent, statuses_from_threads,
    stop_process,
)

import smartdc_nb
from smartdc_nb.auth import (
    AgentSigner, HTTPSignatureAuth, KeyFileSigner, PassphraseRequired, load_signer, sha256_fingerprint,
)
from smartdc_nb.errors import AuthError


@pytest.mark.parametrize("kind", ["rsa-pkcs1", "p256-sec1", "p521-openssh", "ed25519-openssh"])
def test_agent_signatures_verify(kind, keyset, node_verifier, ssh_agent):
    ssh_add(ssh_agent, keyset[kind])
    on_disk = KeyFileSigner(keyset[kind].path)
    signer = AgentSigner(on_disk.sha256_fingerprint, ssh_agent)
    assert (signer.algorithm, signer.md5_fingerprint) == (ALGORITHM[kind], on_disk.md5_fingerprint)
    response = signed_get(HTTPSignatureAuth(signer, "demo"), node_verifier.url + "/demo/machines?state=running")
    assert response.status_code == 200, response.json()
    assert response.json()["algorithm"] == ALGORITHM[kind]


def test_load_signer_uses_the_agent_named_by_ssh_auth_sock(keyset, node_verifier, ssh_agent, tmp_path, monkeypatch):
    for kind in ("rsa-pkcs8", "p521-pkcs8"):
        ssh_add(ssh_agent, keyset[kind])
    monkeypatch.setenv("SSH_AUTH_SOCK", ssh_agent)
    wanted = KeyFileSigner(keyset["p521-pkcs8"].path)
    signer = load_signer(key_id=f"MD5:{wanted.md5_fingerprint}", ssh_dir=tmp_path)  # empty ~/.ssh
    assert isinstance(signer, AgentSigner)
    assert signer.md5_fingerprint == wanted.md5_fingerprint
    response = signed_get(HTTPSignatureAuth(signer, "demo", user="ops"), node_verifier.url + "/demo")
    assert response.status_code == 200
    assert response.json()["keyId"] == f"/demo/users/ops/keys/{wanted.md5_fingerprint}"


def test_encrypted_key_without_passphrase_yields_to_the_agent(keyset, ssh_agent, tmp_path, monkeypatch, node_verifier):
    monkeypatch.delenv("SMARTDC_NB_KEY_PASSPHRASE", raising=False)
    key = keyset["rsa-pkcs1-encrypted"]
    (tmp_path / "id_rsa").write_bytes(key.path.read_bytes())
    (tmp_path / "id_rsa.pub").write_text(key.line)
    fp = KeyFileSigner(key.path, passphrase="correct horse").md5_fingerprint

    with pytest.raises(PassphraseRequired) as excinfo:
        load_signer(key_id=fp, ssh_dir=tmp_path, agent_socket=ssh_agent)
    message = str(excinfo.value)
    assert str(tmp_path / "id_rsa") in message and "SMARTDC_NB_KEY_PASSPHRASE" in message
    assert "has no key with fingerprint" in message  # the agent was asked too

    ssh_add(ssh_agent, key)
    signer = load_signer(key_id=fp, ssh_dir=tmp_path, agent_socket=ssh_agent)
    assert isinstance(signer, AgentSigner)
    assert signed_get(HTTPSignatureAuth(signer, "demo"), node_verifier.url + "/demo").status_code == 200


def test_agent_without_the_key_lists_what_it_holds(keyset, ssh_agent):
    ssh_add(ssh_agent, keyset["ed25519-openssh"])
    held = KeyFileSigner(keyset["ed25519-openssh"].path).md5_fingerprint
    wanted = KeyFileSigner(keyset["rsa-openssh"].path).sha256_fingerprint
    with pytest.raises(AuthError) as excinfo:
        AgentSigner(wanted, ssh_agent)
    message = str(excinfo.value)
    assert wanted in message and held in message and ssh_agent in message


def test_stale_agent_socket_is_a_clear_error(keyset, tmp_path, monkeypatch):
    stale = str(tmp_path / "gone.sock")
    monkeypatch.setenv("SSH_AUTH_SOCK", stale)
    fp = KeyFileSigner(keyset["ed25519-openssh"].path).md5_fingerprint
    with pytest.raises(AuthError) as excinfo:
        load_signer(key_id=fp, ssh_dir=tmp_path)
    message = str(excinfo.value)
    assert stale in message and "stale" in message and "could not be located" in message
    assert str(tmp_path) in message  # where it looked on disk

    # Unlike the CLI, a dead agent does not matter when the key is on disk.
    (tmp_path / "id_ed25519").write_bytes(keyset["ed25519-openssh"].path.read_bytes())
    assert isinstance(load_signer(key_id=fp, ssh_dir=tmp_path), KeyFileSigner)


def test_socket_path_that_is_not_a_socket(tmp_path, keyset):
    not_a_socket = tmp_path / "plain-file"
    not_a_socket.write_text("x")
    with pytest.raises(AuthError, match="cannot connect to the ssh-agent .*plain-file"):
        AgentSigner(KeyFileSigner(keyset["rsa-pkcs1"].path).md5_fingerprint, str(not_a_socket))


def test_no_agent_at_all(monkeypatch, keyset):
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    with pytest.raises(AuthError, match="SSH_AUTH_SOCK is not set"):
        AgentSigner(KeyFileSigner(keyset["rsa-pkcs1"].path).md5_fingerprint)


def test_agent_that_dies_after_the_signer_was_made(keyset, tmp_path):
    sock = tmp_path / "short-lived.sock"
    agent = start_ssh_agent(sock)
    try:
        ssh_add(str(sock), keyset["p256-openssh"])
        signer = AgentSigner(KeyFileSigner(keyset["p256-openssh"].path).md5_fingerprint, str(sock))
        assert signer.sign(b"while alive")
    finally:
        stop_process(agent)
    with pytest.raises(AuthError, match="cannot connect to the ssh-agent"):
        signer.sign(b"after death")


def test_agent_refuses_p384_with_the_explanation(keyset, ssh_agent):
    ssh_add(ssh_agent, keyset["p384"])
    with pytest.raises(AuthError, match="P-384 key, which CloudAPI cannot verify"):
        AgentSigner(sha256_fingerprint(keyset["p384"].line), ssh_agent)


def test_agent_signer_is_safe_across_threads(keyset, node_verifier, ssh_agent):
    ssh_add(ssh_agent, keyset["ed25519-openssh"])
    signer = AgentSigner(KeyFileSigner(keyset["ed25519-openssh"].path).md5_fingerprint, ssh_agent)
    auth = HTTPSignatureAuth(signer, "demo")
    assert statuses_from_threads(auth, node_verifier.url + "/demo/machines") == [200] * 40


def test_a_long_lived_connection_follows_ssh_auth_sock_to_a_new_agent(emu, triton_keys, tmp_path,
                                                                      monkeypatch):
    """A kernel outlives its ssh-agent (a new SSH login starts a new agent on a new socket).
    Once SSH_AUTH_SOCK names the new agent, the DataCenter made with the old one signs through
    it: the agent was found through the variable, so it is followed, not frozen at connect()."""
    key = triton_keys["ed25519"]
    held = SimpleNamespace(path=key.private, encrypted=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # the key is in no ~/.ssh: only in the agent
    first, second = tmp_path / "first.sock", tmp_path / "second.sock"
    agent = start_ssh_agent(first)
    try:
        ssh_add(str(first), held)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(first))
        dc = smartdc_nb.connect(url=emu.url, account="demo", key_id=key.md5, rate_limit=False,
                                changefeed=False, backoff=0.001)
        assert isinstance(dc.transport.session.auth.signer, AgentSigner)
        machine = dc.machines()[0]
    finally:
        stop_process(agent)
    with pytest.raises(AuthError, match=f"cannot connect to the ssh-agent at {first}"):
        machine.refresh()
    agent = start_ssh_agent(second)
    try:
        ssh_add(str(second), held)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(second))
        assert machine.refresh().id == machine.id
    finally:
        stop_process(agent)
