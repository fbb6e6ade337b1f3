"""HTTP Signature verification: every accepted form and every refusal, with
CloudAPI's status, code and message (cloudapi.md §1)."""

from __future__ import annotations

import base64
import time
from email.utils import formatdate

import pytest
from emu_client import Client

ACCOUNT = "/demo/machines?limit=1"
INVALID_CREDS = "Invalid authorization credentials supplied"


def error(response) -> tuple[int, str, str]:
    body = response.json()
    return response.status, body["code"], body["message"]


@pytest.mark.parametrize("name", ["rsa", "rsa_openssh", "ecdsa_p256", "ecdsa_p521", "ed25519",
                                  "rsa_encrypted"])
def test_each_registered_key_type_signs_in(emu, triton_keys, name):
    key = triton_keys[name]
    response = Client(emu.url, key).get(ACCOUNT)
    assert response.status == 200, response.text
    assert len(response.json()) == 1


@pytest.mark.parametrize("algorithm", ["rsa-sha1", "rsa-sha256", "rsa-sha512"])
def test_rsa_hashes_in_both_forms(emu, triton_keys, algorithm):
    client = Client(emu.url, triton_keys["rsa"])
    assert client.get(ACCOUNT, algorithm=algorithm).status == 200
    assert client.get(ACCOUNT, algorithm=algorithm, legacy=True, covers=("date",)).status == 200


def test_ecdsa_may_sign_with_either_hash(emu, triton_keys):
    client = Client(emu.url, triton_keys["ecdsa_p256"])
    assert client.get(ACCOUNT, algorithm="ecdsa-sha512").status == 200
    assert client.get(ACCOUNT, algorithm="ecdsa-sha256").status == 200


def test_legacy_form_with_a_headers_list_signs_raw_values(emu, triton_keys):
    client = Client(emu.url, triton_keys["rsa"])
    response = client.get(ACCOUNT, legacy=True, covers=("date", "x-extra"), extra={"X-Extra": "v"})
    assert response.status == 200, response.text


def test_signature_over_date_only_and_algorithm_in_capitals(emu, triton_keys):
    client = Client(emu.url, triton_keys["ed25519"])
    assert client.get(ACCOUNT, covers=("date",)).status == 200
    assert client.get(ACCOUNT, algorithm="ED25519-SHA512", sign_as="ed25519-sha512").status == 200


def test_x_date_may_replace_date(emu, triton_keys):
    stamp = formatdate(time.time(), usegmt=True)
    client = Client(emu.url, triton_keys["rsa"])
    response = client.get(ACCOUNT, covers=("(request-target)", "x-date"),
                          extra={"X-Date": stamp}, date=False)
    assert response.status == 200, response.text


@pytest.mark.parametrize("key_id", ["/demo/keys/smartdc_nb-test-rsa",
                                    "/7f5217a5-3296-5898-8b27-639cb149087f/keys/{md5}"])
def test_key_by_name_and_account_by_uuid(emu, api, triton_keys, key_id):
    account_uuid = api.get("/my").json()["id"]
    key_id = key_id.replace("7f5217a5-3296-5898-8b27-639cb149087f", account_uuid)
    client = Client(emu.url, triton_keys["rsa"], key_id=key_id.format(md5=triton_keys["rsa"].md5))
    response = client.get("/my")
    assert response.status == 200, response.text
    assert response.json()["login"] == "demo"


def test_sub_user_signs_for_the_parent_account(emu, triton_keys):
    key = triton_keys["ops_ed25519"]
    client = Client(emu.url, key, key_id=f"/demo/users/ops/keys/{key.md5}")
    response = client.get("/my/machines?limit=2")
    assert response.status == 200, response.text
    assert client.get("/demo").json()["login"] == "demo"


def test_sub_user_key_ids_need_api_7_2(emu, triton_keys):
    key = triton_keys["ops_ed25519"]
    key_id = f"/demo/users/ops/keys/{key.md5}"
    response = Client(emu.url, key, key_id=key_id, accept_version="~7.1").get("/my")
    assert error(response) == (401, "InvalidCredentials",
                               f"Invalid KeyId {key_id} in authorization header")


def test_sub_user_cannot_use_the_accounts_keys(emu, triton_keys):
    key = triton_keys["rsa"]
    response = Client(emu.url, key, key_id=f"/demo/users/ops/keys/{key.md5}").get("/my")
    assert error(response) == (401, "InvalidCredentials", INVALID_CREDS)


@pytest.mark.parametrize("key_id", ["/demo/keys", "demo/keys/x", "/demo/notkeys/x", "/demo/keys/a/b",
                                    "/my/users/ops/x/y"])
def test_malformed_key_ids(emu, triton_keys, key_id):
    response = Client(emu.url, triton_keys["rsa"], key_id=key_id).get("/my")
    assert error(response) == (401, "InvalidCredentials", f"Invalid KeyId {key_id} in authorization header")


@pytest.mark.parametrize("key_id", ["/nobody/keys/{md5}", "/demo/keys/00:11:22", "/my/keys/{md5}",
                                    "/demo/users/nobody/keys/{md5}", "/demo/keys/{sha256}"])
def test_unknown_account_key_or_alias_in_key_id(emu, triton_keys, key_id):
    key = triton_keys["rsa"]
    key_id = key_id.format(md5=key.md5, sha256=key.sha256.replace("/", "_"))
    response = Client(emu.url, key, key_id=key_id).get("/my")
    assert error(response) == (401, "InvalidCredentials", INVALID_CREDS)


def test_wrong_signature_unregistered_key_and_mismatched_types(emu, triton_keys):
    rsa = triton_keys["rsa"]
    assert error(Client(emu.url, rsa).get("/my", tamper=True))[0:2] == (401, "InvalidCredentials")
    # the P-384 key is not registered; sign with it under the RSA key's id
    stranger = Client(emu.url, triton_keys["ecdsa_p256"], key_id=rsa.key_id)
    assert error(stranger.get("/my")) == (401, "InvalidCredentials", INVALID_CREDS)
    # the algorithm must name the stored key's type
    mismatch = Client(emu.url, rsa).get("/my", algorithm="ecdsa-sha256", sign_as="rsa-sha256")
    assert error(mismatch) == (401, "InvalidCredentials", INVALID_CREDS)


def test_ed25519_only_with_sha512(emu, triton_keys):
    response = Client(emu.url, triton_keys["ed25519"]).get("/my", algorithm="ed25519-sha256",
                                                           sign_as="ed25519-sha512")
    assert error(response) == (400, "InvalidHeader",
                               "Authorization header invalid: ed25519-sha256 is not a supported algorithm")


def test_signature_that_is_not_base64(emu, api):
    header = (f'Signature keyId="{api.key.key_id}",algorithm="rsa-sha256",headers="date",'
              'signature="%%%not-base64%%%"')
    response = api.get("/my", signed=False, headers={"Authorization": header,
                                                     "Date": formatdate(time.time(), usegmt=True)})
    assert error(response) == (401, "InvalidCredentials", INVALID_CREDS)


def test_no_authorization_basic_and_other_schemes(emu, api):
    no_auth = api.get("/my", signed=False)
    assert error(no_auth) == (401, "InvalidCredentials",
                              "You must make authenticated requests to use CloudAPI")
    basic = "Basic " + base64.b64encode(b"demo:secret").decode()
    for header in (basic, "Bearer abc.def", "Token x"):
        response = api.get("/my", signed=False, headers={"Authorization": header})
        assert error(response) == (401, "InvalidCredentials",
                                   "You must make authenticated requests to use CloudAPI")


def test_header_without_a_space(emu, api):
    response = api.get("/my", signed=False, headers={"Authorization": "Signature"})
    assert error(response) == (400, "InvalidHeader", "BasicAuth content is invalid.")


@pytest.mark.parametrize("authorization, message", [
    ('Signature keyId="/demo/keys/x", algorithm="rsa-sha256",signature="AAAA"', "bad param format"),
    ('signature keyId="/demo/keys/x",algorithm="rsa-sha256",signature="AAAA"',
     'scheme was not "Signature"'),
    ('Signature algorithm="rsa-sha256",signature="AAAA"', "keyId was not specified"),
    ('Signature keyId="/demo/keys/x",signature="AAAA"', "algorithm was not specified"),
    ('Signature keyId="/demo/keys/x",algorithm="rsa-sha256"', "signature was not specified"),
    ('Signature keyId="/demo/keys/x",algorithm="rsa-sha384",signature="AAAA"',
     "rsa-sha384 is not supported"),
    ('Signature keyId="/demo/keys/x",algorithm="ecdsa-sha384",signature="AAAA"',
     "ecdsa-sha384 is not supported"),
    ('Signature keyId="/demo/keys/x",algorithm="hmac-sha256",signature="AAAA"',
     "hmac-sha256 is not a supported algorithm"),
    ('Signature keyId="/demo/keys/x",algorithm="rsa-md5",signature="AAAA"', "rsa-md5 is not supported"),
    ('Signature keyId="/demo/keys/x",algorithm="rsa-sha256",headers="(request-target)",'
     'signature="AAAA"', "date was not a signed header"),
    ('Signature keyId="/demo/keys/x",algorithm="rsa-sha256",headers="date x-missing",'
     'signature="AAAA"', "x-missing was not in the request"),
])
def test_unparseable_signature_headers(emu, api, authorization, message):
    response = api.get("/my", signed=False, headers={"Authorization": authorization,
                                                     "Date": formatdate(time.time(), usegmt=True)})
    assert error(response) == (400, "InvalidHeader", f"Authorization header invalid: {message}")


def test_missing_date(emu, api):
    response = api.get("/my", date=False)
    assert error(response) == (400, "InvalidHeader", "Authorization header invalid: date was not in the request")


@pytest.mark.parametrize("offset", [-3600, 3600, -301.5])
def test_clock_skew_over_300_seconds(emu, api, offset):
    stamp = formatdate(time.time() + offset, usegmt=True)
    status, code, message = error(api.get("/my", date=stamp))
    assert (status, code) == (400, "InvalidHeader")
    assert message.startswith("Authorization header invalid: clock skew of ")
    skew = float(message.split("clock skew of ")[1].split("s was")[0])
    assert abs(skew - abs(offset)) < 3 and message.endswith("s was greater than 300s")


def test_skew_within_300_seconds_is_fine(emu, api):
    assert api.get("/my", date=formatdate(time.time() - 250, usegmt=True)).status == 200


def test_unparseable_date(emu, api):
    assert error(api.get("/my", date="yesterday-ish")) == (400, "InvalidHeader", "Date header is invalid")


def test_stale_date_without_a_signature(emu, api):
    stamp = formatdate(time.time() - 3600, usegmt=True)
    status, code, message = error(api.get("/my", signed=False, headers={"Date": stamp}))
    assert (status, code) == (400, "RequestExpired")
    assert message == f"Date header {stamp} is too old"


def test_unknown_account_in_the_path(emu, api):
    assert error(api.get("/nobody/machines")) == (404, "ResourceNotFound", "nobody does not exist")


def test_other_accounts_are_forbidden(triton_keys):
    from smartdc_nb.emulator.testing import make_emulator

    keys = triton_keys
    accounts = {"demo": [keys["rsa"].public_line], "other": [keys["ed25519"].public_line]}
    with make_emulator(keys, accounts=accounts, machines=2, datacenters=["dc1"]) as emu:
        client = Client(emu.url, keys["rsa"])
        status, code, message = error(client.get("/other/machines"))
        assert (status, code) == (403, "NotAuthorized")
        assert message == "You do not have permission to access /other/machines (listmachines)"
        mine = client.get("/demo/machines").json()
        theirs = Client(emu.url, keys["ed25519"], key_id=f"/other/keys/{keys['ed25519'].md5}")
        assert theirs.get("/my/machines").json() == []  # the seeded fleet belongs to the first account
        assert len(mine) == 2


def test_ping_needs_no_signature(emu, api):
    response = api.get("/--ping", signed=False)
    assert response.status == 200
    assert response.json()["ping"] == "pong"
    assert response.header("Triton-Datacenter-Name") == "us-east-1"


def test_verification_can_be_switched_off(triton_keys):
    from smartdc_nb.emulator.testing import make_emulator

    with make_emulator(triton_keys, machines=1, datacenters=["dc1"], verify_signatures=False) as emu:
        client = Client(emu.url, triton_keys["rsa"])
        assert client.get("/my", tamper=True).status == 200
        assert client.get("/demo/machines", signed=False).status == 200
        # the keyId must still name a registered key
        assert client.get("/my", key_id="/demo/keys/nope").status == 401
