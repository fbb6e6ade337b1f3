"""Key files, fingerprints and finding a key by its id: formats, the CLI's lookup rules, bad input."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization as ser
from cryptography.hazmat.primitives.asymmetric import dsa
from test_auth_support import PASSPHRASE, PLAIN_KINDS, keyset, require_tool, write_key  # noqa: F401  (fixtures)

from smartdc_nb.auth import (
    HTTPSignatureAuth, KeyFileSigner, PassphraseRequired, load_signer, md5_fingerprint, parse_key_id,
    sha256_fingerprint,
)
from smartdc_nb.errors import AuthError

# --------------------------------------------------------------- fingerprints


@pytest.mark.parametrize("kind", PLAIN_KINDS)
def test_fingerprints_match_ssh_keygen(kind, keyset):
    if shutil.which("ssh-keygen") is None:
        require_tool("ssh-keygen (the OpenSSH client) is not installed")
    pub = str(keyset[kind].pub)
    md5 = subprocess.run(["ssh-keygen", "-l", "-E", "md5", "-f", pub], capture_output=True, text=True, check=True)
    sha = subprocess.run(["ssh-keygen", "-l", "-f", pub], capture_output=True, text=True, check=True)
    signer = KeyFileSigner(keyset[kind].path)
    assert md5.stdout.split()[1] == "MD5:" + signer.md5_fingerprint
    assert sha.stdout.split()[1] == signer.sha256_fingerprint


def test_fingerprint_functions_take_lines_and_key_objects(keyset):
    key = keyset["ed25519-openssh"]
    private = ser.load_ssh_private_key(key.path.read_bytes(), None)
    forms = [key.line, key.line.encode(), key.pub.read_text(), private, private.public_key()]
    assert len({md5_fingerprint(f) for f in forms}) == 1
    assert len({sha256_fingerprint(f) for f in forms}) == 1
    assert sha256_fingerprint(key.line).startswith("SHA256:") and not sha256_fingerprint(key.line).endswith("=")
    with pytest.raises(AuthError, match="not an OpenSSH public key line"):
        md5_fingerprint("ssh-ed25519")
    with pytest.raises(AuthError, match="bad base64"):
        md5_fingerprint("ssh-ed25519 !!!notbase64")


def test_key_id_forms(keyset):
    signer = KeyFileSigner(keyset["rsa-pkcs1"].path)
    md5, sha = signer.md5_fingerprint, signer.sha256_fingerprint
    forms = [md5, md5.upper(), f"MD5:{md5}", md5.replace(":", ""), sha, f"/demo/keys/{md5}",
             f"/demo/users/ops/keys/{md5}", f"  {sha}  "]
    for form in forms:
        assert parse_key_id(form).matches(signer.key_blob), form
    assert not parse_key_id(KeyFileSigner(keyset["rsa-pkcs8"].path).md5_fingerprint).matches(signer.key_blob)


@pytest.mark.parametrize("bad, expected", [
    ("", "empty"),
    ("id_rsa", "not an SSH key fingerprint"),
    ("/demo/keys/id_rsa", "names a key ('id_rsa') rather than giving its fingerprint"),
    ("SHA256:tooshort", "not an SSH key fingerprint"),
    ("zz:" * 15 + "zz", "not an SSH key fingerprint"),
    ("aa:bb:cc", "ssh-keygen -l -E md5"),
])
def test_bad_key_ids_explain_the_accepted_forms(bad, expected):
    with pytest.raises(AuthError, match="ssh-keygen") as excinfo:
        parse_key_id(bad)
    assert expected in str(excinfo.value)


# ----------------------------------------------------------------- key files


def test_missing_key_file(tmp_path):
    with pytest.raises(AuthError, match=f"private key file {tmp_path / 'nope'} does not exist"):
        load_signer(key_path=tmp_path / "nope")
    with pytest.raises(AuthError, match="is a directory"):
        KeyFileSigner(tmp_path)


def test_a_key_file_that_cannot_be_read_otherwise_is_named(tmp_path):
    """A link to itself (ELOOP), or any other reason the key cannot be read, raised a bare
    OSError from connect(): an AuthError names the key file, as for a missing one."""
    loop = tmp_path / "id_loop"
    loop.symlink_to(loop)
    with pytest.raises(AuthError, match=f"private key file {loop} cannot be read "
                                        r"\(Too many levels of symbolic links\)"):
        load_signer(key_path=loop)


def test_public_key_or_garbage_given_as_private_key(keyset, tmp_path):
    with pytest.raises(AuthError, match=r"is a public key; give the private key file \(usually the same path wi"):
        KeyFileSigner(keyset["rsa-pkcs1"].pub)
    junk = tmp_path / "junk"
    junk.write_text("hello\n")
    with pytest.raises(AuthError, match="junk is not a private key in PEM or OpenSSH format"):
        KeyFileSigner(junk)
    broken = tmp_path / "broken"
    broken.write_text("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n")
    with pytest.raises(AuthError, match="broken could not be read as a private key"):
        KeyFileSigner(broken)


@pytest.mark.parametrize("kind", ["rsa-pkcs1-encrypted", "rsa-pkcs8-encrypted", "ed25519-openssh-encrypted"])
def test_encrypted_key_without_passphrase_never_prompts(kind, keyset, monkeypatch):
    monkeypatch.delenv("SMARTDC_NB_KEY_PASSPHRASE", raising=False)
    monkeypatch.setattr("getpass.getpass", lambda *a, **k: pytest.fail("prompted for a passphrase"))
    with pytest.raises(PassphraseRequired) as excinfo:
        KeyFileSigner(keyset[kind].path)
    message = str(excinfo.value)
    assert str(keyset[kind].path) in message and "is encrypted" in message
    assert "passphrase=" in message and "SMARTDC_NB_KEY_PASSPHRASE" in message
    assert isinstance(excinfo.value, AuthError)


@pytest.mark.parametrize("kind", ["rsa-pkcs1-encrypted", "rsa-pkcs8-encrypted", "ed25519-openssh-encrypted"])
def test_wrong_passphrase(kind, keyset, monkeypatch):
    monkeypatch.delenv("SMARTDC_NB_KEY_PASSPHRASE", raising=False)
    with pytest.raises(AuthError, match="the passphrase from the passphrase argument is wrong") as excinfo:
        KeyFileSigner(keyset[kind].path, passphrase="battery staple")
    assert str(keyset[kind].path) in str(excinfo.value)
    monkeypatch.setenv("SMARTDC_NB_KEY_PASSPHRASE", "battery staple")
    with pytest.raises(AuthError, match=r"the passphrase from \$SMARTDC_NB_KEY_PASSPHRASE is wrong"):
        KeyFileSigner(keyset[kind].path)
    # An explicit, right passphrase wins over the environment.
    assert KeyFileSigner(keyset[kind].path, passphrase=PASSPHRASE.encode()).algorithm


def test_passphrase_in_environment_does_not_disturb_plain_keys(keyset, monkeypatch):
    monkeypatch.setenv("SMARTDC_NB_KEY_PASSPHRASE", "for another key")
    assert KeyFileSigner(keyset["rsa-openssh"].path).algorithm == "rsa-sha256"
    assert KeyFileSigner(keyset["p256-sec1"].path, passphrase="ignored").algorithm == "ecdsa-sha256"


def test_p384_is_refused_with_the_reason(keyset):
    with pytest.raises(AuthError) as excinfo:
        load_signer(key_path=keyset["p384"].path)
    message = str(excinfo.value)
    assert "P-384" in message and "http-signature 1.4" in message and "sha384" in message
    assert "P-256, P-521, Ed25519 or RSA" in message


def test_dsa_is_refused(tmp_path):
    key = dsa.generate_private_key(2048)
    path = tmp_path / "id_dsa"
    path.write_bytes(key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption()))
    with pytest.raises(AuthError, match="is a DSA key; smartdc_nb signs with RSA, ECDSA P-256, ECDSA P-521 and Ed"):
        KeyFileSigner(path)


def test_signatures_verify_locally_with_the_public_key(keyset):
    """A quick self-check per type (the independent check is the Node verifier)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding

    data = b"(request-target): get /demo\ndate: Tue, 01 Apr 2025 12:00:00 GMT"
    for kind in PLAIN_KINDS:
        signer = KeyFileSigner(keyset[kind].path)
        sig = signer.sign(data)
        if signer.algorithm == "rsa-sha256":
            signer.public_key.verify(sig, data, padding.PKCS1v15(), hashes.SHA256())
        elif signer.algorithm == "ed25519-sha512":
            assert len(sig) == 64
            signer.public_key.verify(sig, data)
        else:
            hash_ = hashes.SHA512() if signer.algorithm == "ecdsa-sha512" else hashes.SHA256()
            assert sig[0] == 0x30  # ASN.1 DER SEQUENCE
            signer.public_key.verify(sig, data, ec.ECDSA(hash_))


def test_key_path_and_key_id_must_agree(keyset):
    path = keyset["rsa-pkcs1"].path
    signer = load_signer(key_id=KeyFileSigner(path).sha256_fingerprint, key_path=path)
    assert signer.source == str(path)
    other = KeyFileSigner(keyset["rsa-pkcs8"].path).md5_fingerprint
    with pytest.raises(AuthError, match=f"has fingerprint {signer.md5_fingerprint} .*not the key id '{other}'"):
        load_signer(key_id=other, key_path=path)


def test_neither_key_id_nor_key_path():
    with pytest.raises(AuthError, match="no signing key: give key_id .* or key_path"):
        load_signer()


def test_auth_refuses_account_names_that_break_the_key_id(keyset):
    signer = KeyFileSigner(keyset["rsa-pkcs1"].path)
    for account in ("", "a/b", 'a"b', None):
        with pytest.raises(AuthError, match="invalid account"):
            HTTPSignatureAuth(signer, account)
    with pytest.raises(AuthError, match="invalid user"):
        HTTPSignatureAuth(signer, "demo", user="x/y")


# ------------------------------------------------ finding a key in ~/.ssh


def _copy(key, directory, name, with_pub=True):
    (directory / name).write_bytes(key.path.read_bytes())
    (directory / name).chmod(0o600)
    if with_pub:
        (directory / f"{name}.pub").write_text(key.line + "\n")
    return directory / name


def test_lookup_follows_the_cli_rules(keyset, tmp_path):
    ssh = tmp_path / ".ssh"
    ssh.mkdir()
    paired = _copy(keyset["rsa-pkcs1"], ssh, "work")                       # X + X.pub
    lone_id = _copy(keyset["ed25519-openssh"], ssh, "id_ed25519", False)   # id_* alone
    _copy(keyset["p256-sec1"], ssh, "mykey", False)                        # alone, no id_: ignored
    (ssh / "orphan.pub").write_text(keyset["p521-openssh"].line)           # .pub alone: cannot sign
    (ssh / "known_hosts").write_text("host ssh-ed25519 AAAA\n")

    def find(kind):
        return load_signer(key_id=KeyFileSigner(keyset[kind].path).md5_fingerprint, ssh_dir=ssh, agent_socket=False)

    assert find("rsa-pkcs1").source == str(paired)
    assert find("ed25519-openssh").source == str(lone_id)
    for kind in ("p256-sec1", "p521-openssh"):
        with pytest.raises(AuthError) as excinfo:
            find(kind)
        message = str(excinfo.value)
        assert "could not be located" in message and str(ssh) in message
        assert "work.pub" in message and "id_ed25519" in message and "mykey" not in message
        assert "ssh-agent: not used (agent_socket=False)" in message


def test_home_ssh_is_the_default_and_symlinks_are_followed(keyset, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "id_rsa").symlink_to(keyset["rsa-openssh"].path)
    (tmp_path / ".ssh" / "id_rsa.pub").symlink_to(keyset["rsa-openssh"].pub)
    fp = KeyFileSigner(keyset["rsa-openssh"].path).sha256_fingerprint
    assert load_signer(key_id=fp).source == str(tmp_path / ".ssh" / "id_rsa")
    missing = KeyFileSigner(keyset["rsa-pkcs8"].path).sha256_fingerprint
    with pytest.raises(AuthError) as excinfo:
        load_signer(key_id=missing)
    assert f'"{missing}" could not be located' in str(excinfo.value)
    assert "(1 key: id_rsa.pub)" in str(excinfo.value) and "SSH_AUTH_SOCK is not set" in str(excinfo.value)


def test_private_keys_are_parsed_only_on_a_match(keyset, tmp_path):
    (tmp_path / "broken").write_text("not a key at all")                  # its .pub does not match
    (tmp_path / "broken.pub").write_text(keyset["rsa-pkcs8"].line)
    _copy(keyset["ed25519-openssh"], tmp_path, "good")
    fp = KeyFileSigner(keyset["ed25519-openssh"].path).md5_fingerprint
    assert load_signer(key_id=fp, ssh_dir=tmp_path, agent_socket=False).source == str(tmp_path / "good")
    # ... and the broken one is reported only when it is the match.
    with pytest.raises(AuthError, match="broken is not a private key"):
        load_signer(key_id=md5_fingerprint(keyset["rsa-pkcs8"].line), ssh_dir=tmp_path, agent_socket=False)


def test_encrypted_lone_keys(keyset, tmp_path, monkeypatch):
    monkeypatch.delenv("SMARTDC_NB_KEY_PASSPHRASE", raising=False)
    ossh = _copy(keyset["ed25519-openssh-encrypted"], tmp_path, "id_enc", with_pub=False)
    _copy(keyset["rsa-pkcs1-encrypted"], tmp_path, "id_pem", with_pub=False)
    # OpenSSH keeps the public key in clear: found without the passphrase, then it is asked for.
    fp = md5_fingerprint(keyset["ed25519-openssh-encrypted"].line)
    with pytest.raises(PassphraseRequired, match=f"{ossh} is encrypted"):
        load_signer(key_id=fp, ssh_dir=tmp_path, agent_socket=False)
    assert load_signer(key_id=fp, ssh_dir=tmp_path, passphrase=PASSPHRASE, agent_socket=False).source == str(ossh)
    # An encrypted PEM key without .pub cannot be fingerprinted; the error says so.
    with pytest.raises(AuthError, match="id_pem: encrypted PEM without a .pub, cannot be fingerprinted"):
        load_signer(key_id=md5_fingerprint(keyset["rsa-pkcs1-encrypted"].line), ssh_dir=tmp_path, agent_socket=False)


def test_missing_ssh_dir_is_named(tmp_path, keyset):
    with pytest.raises(AuthError, match=f"{tmp_path / 'nowhere'} \\(No such file or directory\\)"):
        load_signer(key_id=md5_fingerprint(keyset["rsa-pkcs1"].line), ssh_dir=tmp_path / "nowhere", agent_socket=False)
