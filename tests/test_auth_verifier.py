"""Signatures from key files, checked by an independent verifier (Node http-signature 1.4.0)."""

from __future__ import annotations

import base64
import json
import re
from email.utils import parsedate_to_datetime

import pytest
import requests
from test_auth_support import (  # noqa: F401  (fixtures)
    ALGORITHM, PASSPHRASE, PLAIN_KINDS, keyset, node_verifier, signed_get, statuses_from_threads, write_key,
)

from smartdc_nb.auth import HTTPSignatureAuth, KeyFileSigner, http_date, load_signer

HEADER = re.compile(
    r'^Signature keyId="(?P<key_id>[^"]+)",algorithm="(?P<alg>[^"]+)",'
    r'headers="\(request-target\) date",signature="(?P<sig>[A-Za-z0-9+/=]+)"$'
)


@pytest.mark.parametrize("kind", PLAIN_KINDS)
def test_every_key_type_and_format_verifies(kind, keyset, node_verifier):
    signer = KeyFileSigner(keyset[kind].path)
    auth = HTTPSignatureAuth(signer, "demo")
    response = signed_get(auth, node_verifier.url + "/demo/machines?limit=1000&offset=0")
    body = response.json()
    assert response.status_code == 200, body
    assert body["algorithm"] == ALGORITHM[kind]
    assert body["keyId"] == f"/demo/keys/{signer.md5_fingerprint}"
    assert body["signingString"].startswith("(request-target): get /demo/machines?limit=1000&offset=0\ndate: ")
    header = response.request.headers["Authorization"]
    match = HEADER.match(header)
    assert match, header  # exact wire form: no spaces after commas, params in node-triton's order
    assert match["alg"] == ALGORITHM[kind]
    date = parsedate_to_datetime(response.request.headers["Date"])
    assert response.request.headers["Date"].endswith(" GMT") and date.tzinfo is not None


@pytest.mark.parametrize("kind", ["rsa-pkcs1-encrypted", "rsa-pkcs8-encrypted", "ed25519-openssh-encrypted"])
def test_encrypted_keys_with_passphrase_verify(kind, keyset, node_verifier, monkeypatch):
    monkeypatch.delenv("SMARTDC_NB_KEY_PASSPHRASE", raising=False)
    signer = KeyFileSigner(keyset[kind].path, passphrase=PASSPHRASE)
    assert signed_get(HTTPSignatureAuth(signer, "demo"), node_verifier.url + "/demo").status_code == 200
    monkeypatch.setenv("SMARTDC_NB_KEY_PASSPHRASE", PASSPHRASE)
    from_env = KeyFileSigner(keyset[kind].path)
    assert from_env.md5_fingerprint == signer.md5_fingerprint
    assert signed_get(HTTPSignatureAuth(from_env, "demo"), node_verifier.url + "/demo").status_code == 200


def test_sub_user_key_id(keyset, node_verifier):
    signer = KeyFileSigner(keyset["ed25519-openssh"].path)
    response = signed_get(HTTPSignatureAuth(signer, "demo", user="ops"), node_verifier.url + "/demo/machines")
    body = response.json()
    assert response.status_code == 200, body
    assert body["keyId"] == f"/demo/users/ops/keys/{signer.md5_fingerprint}"
    assert (body["account"], body["user"]) == ("demo", "ops")


def test_query_and_path_with_special_characters_are_signed_as_sent(keyset, node_verifier):
    auth = HTTPSignatureAuth(KeyFileSigner(keyset["rsa-pkcs1"].path), "demo")
    params = {"name": "web 01&x=y/é", "tag.role": "db*,+;~", "limit": 5}
    url = node_verifier.url + "/demo/machines/abc/tags/a%20b%2Fc"
    response = signed_get(auth, url, params=params)
    body = response.json()
    assert response.status_code == 200, body
    sent = response.request.path_url
    assert "%2F" in sent and "%26x%3Dy" in sent and "%C3%A9" in sent
    assert body["url"] == sent
    assert body["signingString"].splitlines()[0] == f"(request-target): get {sent}"


def test_post_with_body_and_other_methods(keyset, node_verifier):
    auth = HTTPSignatureAuth(KeyFileSigner(keyset["p521-openssh"].path), "demo")
    payload = {"action": "stop", "metadata.note": "ünïcode \"quoted\""}
    with requests.Session() as session:
        session.auth = auth
        posted = session.post(node_verifier.url + "/demo/machines/abc?action=stop", json=payload, timeout=10)
        deleted = session.delete(node_verifier.url + "/demo/machines/abc/tags/x", timeout=10)
        put = session.put(node_verifier.url + "/demo/machines/abc/tags", data=b"{}", timeout=10)
    assert posted.status_code == 200, posted.json()
    assert posted.json()["bodyLength"] == len(posted.request.body)
    assert posted.json()["signingString"].startswith("(request-target): post /demo/machines/abc?action=stop\n")
    assert deleted.status_code == 200 and deleted.json()["signingString"].startswith("(request-target): delete ")
    assert put.status_code == 200 and put.json()["signingString"].startswith("(request-target): put ")


def test_verifier_rejects_a_signature_made_with_another_key(keyset, node_verifier):
    """The judge can say no: claim one key's fingerprint, sign with another."""
    real = KeyFileSigner(keyset["ed25519-openssh"].path)
    other = KeyFileSigner(keyset["ed25519-pkcs8"].path)
    auth = HTTPSignatureAuth(real, "demo")
    auth.signer = other  # the header still names `real`

    response = signed_get(auth, node_verifier.url + "/demo")
    assert response.status_code == 401
    assert "does not verify" in response.json()["reason"]


def test_a_date_given_by_the_caller_is_kept_and_signed(keyset, node_verifier):
    auth = HTTPSignatureAuth(KeyFileSigner(keyset["rsa-pkcs8"].path), "demo")
    date = http_date()
    response = signed_get(auth, node_verifier.url + "/demo", headers={"Date": date})
    assert response.status_code == 200
    assert response.request.headers["Date"] == date
    assert response.json()["signingString"].endswith(f"\ndate: {date}")


def test_stale_date_is_refused_by_the_verifier(keyset, node_verifier):
    """The Date really is what is signed: one 10 minutes old fails the verifier's skew check."""
    auth = HTTPSignatureAuth(KeyFileSigner(keyset["rsa-pkcs8"].path), "demo")
    response = signed_get(auth, node_verifier.url + "/demo", headers={"Date": "Mon, 01 Jan 2024 00:00:00 GMT"})
    assert response.status_code == 401
    assert "skew" in response.json()["reason"]


def test_load_signer_by_sha256_key_id_from_ssh_dir_verifies(keyset, node_verifier, tmp_path):
    """A lone id_* private key (no .pub) is found by its SHA256 fingerprint among other keys."""
    write_key(tmp_path, "ed25519-openssh", name="work")  # a decoy with its .pub
    src = keyset["p256-sec1"]
    (tmp_path / "id_ecdsa").write_bytes(src.path.read_bytes())
    signer = load_signer(key_id=KeyFileSigner(src.path).sha256_fingerprint, ssh_dir=tmp_path, agent_socket=False)
    assert signer.source == str(tmp_path / "id_ecdsa")
    response = signed_get(HTTPSignatureAuth(signer, "demo"), node_verifier.url + "/demo")
    assert response.status_code == 200
    assert response.json()["keyId"] == f"/demo/keys/{signer.md5_fingerprint}"


def test_one_auth_signs_from_many_threads(keyset, node_verifier):
    auth = HTTPSignatureAuth(KeyFileSigner(keyset["p256-sec1"].path), "demo")
    assert statuses_from_threads(auth, node_verifier.url + "/demo/machines") == [200] * 40


def test_reprs_show_the_key_id_and_never_key_material(keyset):
    signer = KeyFileSigner(keyset["rsa-pkcs1"].path)
    auth = HTTPSignatureAuth(signer, "demo")
    private_b64 = b"".join(keyset["rsa-pkcs1"].path.read_bytes().splitlines()[1:-1]).decode()
    for text in (repr(signer), repr(auth), str(auth)):
        assert private_b64[:40] not in text and "PRIVATE" not in text
        assert signer.md5_fingerprint in text
    assert "/demo/keys/" in repr(auth)
    assert json.dumps(auth.key_id)  # a plain string
    assert base64.b64decode(signer.public_key_line.split()[1])  # the public half is shareable
