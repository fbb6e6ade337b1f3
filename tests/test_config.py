"""Profiles as the triton CLI reads them: files, config.json, TRITON_*/SDC_* variables, arguments.

Every test runs with a temporary HOME and a scrubbed environment (conftest's ``home``), never
the real ~/.triton. Profiles that cannot be used are refused in test_config_errors.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from test_auth_support import require_tool

from smartdc_nb import config
from smartdc_nb.config import InsecureTLSWarning, Profile, load_profile, register_profile_provider
from smartdc_nb.errors import ConfigError
from test_config_support import PROD, set_default, write_profile

TRITON = Path(__file__).parent / "node" / "node_modules" / ".bin" / "triton"


# ------------------------------------------------------------------ selection


def test_named_profile_file(home):
    path = write_profile(home, "prod", PROD)
    p = load_profile("prod")
    assert (p.name, p.url, p.account, p.key_id, p.user) == ("prod", PROD["url"], "alice", "SHA256:abc", "ops")
    assert (p.roles, p.act_as, p.insecure, p.acting_account) == (("admin", "ro"), "corp", False, "corp")
    assert p.source == f"profile file {path}"


def test_config_dir_precedence(home, tmp_path, monkeypatch):
    write_profile(home, "x", {**PROD, "account": "from-home"})
    write_profile(tmp_path / "xdg" / "triton", "x", {**PROD, "account": "from-xdg"})
    write_profile(tmp_path / "test-dir", "x", {**PROD, "account": "from-testdir"})
    assert load_profile("x").account == "from-home"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert load_profile("x").account == "from-xdg"
    monkeypatch.setenv("TRITONTEST_CLI_CONFIG_DIR", str(tmp_path / "test-dir"))
    assert load_profile("x").account == "from-testdir"
    assert config.config_dir() == tmp_path / "test-dir"


def test_which_profile_argument_then_triton_profile_then_config_json_then_env(home, monkeypatch):
    for name in ("a", "b", "c"):
        write_profile(home, name, {**PROD, "account": name})
    monkeypatch.setenv("TRITON_URL", "http://127.0.0.1:8080")
    monkeypatch.setenv("TRITON_ACCOUNT", "from-env")
    monkeypatch.setenv("TRITON_KEY_ID", "aa:bb")
    assert load_profile().account == "from-env"
    set_default(home, "c")
    assert load_profile().account == "c"
    monkeypatch.setenv("TRITON_PROFILE", "b")
    assert load_profile().account == "b"
    assert load_profile("a").account == "a"
    assert load_profile("env").account == "from-env"
    assert config.profile_names() == ["a", "b", "c"]


def test_env_profile_triton_vars_win_over_sdc(home, monkeypatch):
    monkeypatch.setenv("SDC_URL", "https://sdc.example")
    monkeypatch.setenv("SDC_ACCOUNT", "sdc-account")
    monkeypatch.setenv("SDC_KEY_ID", "11:22")
    monkeypatch.setenv("SDC_USER", "sdc-user")
    p = load_profile()
    assert (p.name, p.url, p.account) == ("env", "https://sdc.example", "sdc-account")
    assert (p.key_id, p.user) == ("11:22", "sdc-user")
    assert p.source == "environment (SDC_URL, SDC_ACCOUNT, SDC_KEY_ID, SDC_USER)"
    monkeypatch.setenv("TRITON_ACCOUNT", "triton-account")
    monkeypatch.setenv("TRITON_USER", "triton-user")
    monkeypatch.setenv("TRITON_ACT_AS", "corp")
    p = load_profile()
    assert (p.account, p.user, p.act_as) == ("triton-account", "triton-user", "corp")


@pytest.mark.parametrize("env, expected", [
    ({"TRITON_TLS_INSECURE": "1"}, True),
    ({"TRITON_TLS_INSECURE": "true"}, True),
    ({"TRITON_TLS_INSECURE": "0"}, False),
    ({"TRITON_TLS_INSECURE": "false", "SDC_TLS_INSECURE": "1"}, False),
    ({"SDC_TLS_INSECURE": "true"}, True),
    ({"SDC_TESTING": "anything"}, True),
    ({"SDC_TESTING": "0"}, True),  # legacy rule: any non-empty value
    ({"TRITON_TLS_INSECURE": "0", "SDC_TESTING": "1"}, False),
    ({"SDC_TESTING": ""}, False),
])
def test_tls_insecure_rule(home, monkeypatch, env, expected):
    monkeypatch.setenv("TRITON_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("TRITON_ACCOUNT", "a")
    monkeypatch.setenv("TRITON_KEY_ID", "k")
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    assert load_profile().insecure is expected


@pytest.mark.parametrize("value", ["yes", "TRUE", "2", "on"])
def test_bad_tls_insecure_value(home, monkeypatch, value):
    monkeypatch.setenv("SDC_TLS_INSECURE", value)
    with pytest.raises(ConfigError) as excinfo:
        load_profile()
    assert str(excinfo.value) == f"invalid boolean value for SDC_TLS_INSECURE: {value!r} (use 1, true, 0 or false)"


def test_env_vars_do_not_override_a_named_profile_but_triton_role_does(home, monkeypatch):
    write_profile(home, "prod", PROD)
    monkeypatch.setenv("TRITON_ACCOUNT", "intruder")
    monkeypatch.setenv("SDC_URL", "https://elsewhere")
    monkeypatch.setenv("TRITON_TLS_INSECURE", "1")
    p = load_profile("prod")
    assert (p.account, p.url, p.insecure) == ("alice", PROD["url"], False)
    monkeypatch.setenv("TRITON_ROLE", "r1,r2")
    p = load_profile("prod")
    assert p.roles == ("r1", "r2") and p.source.endswith(" + TRITON_ROLE")


def test_arguments_win_over_everything(home, monkeypatch, tmp_path):
    write_profile(home, "prod", PROD)
    monkeypatch.setenv("TRITON_ROLE", "from-env")
    p = load_profile("prod", url="http://127.0.0.1:9/", account="bob", key_id="cc:dd", user=None,
                     roles="x,y", act_as="other", insecure=True, key_path=tmp_path / "k", passphrase="pw")
    assert (p.url, p.account, p.key_id, p.user) == ("http://127.0.0.1:9", "bob", "cc:dd", "ops")  # None = not given
    assert (p.roles, p.act_as, p.insecure) == (("x", "y"), "other", True)
    assert (p.key_path, p.passphrase) == (str(tmp_path / "k"), "pw")
    assert "arguments (account, act_as, insecure, key_id, key_path, passphrase, roles, url)" in p.source
    again = load_profile(p, account="carol")
    assert (again.name, again.account, again.url) == ("prod", "carol", "http://127.0.0.1:9")


def test_ad_hoc_profile_from_arguments_only(home, tmp_path):
    p = load_profile(url="http://127.0.0.1:8080", account="demo", key_id="aa:bb")
    assert (p.name, p.source) == ("adhoc", "arguments (account, key_id, url)")
    p = load_profile(url="https://h", account="demo", key_path=tmp_path / "id_rsa")
    assert p.key_id is None and p.key_path == str(tmp_path / "id_rsa")


def test_env_profile_completed_by_arguments(home, monkeypatch):
    monkeypatch.setenv("SDC_ACCOUNT", "alice")
    p = load_profile(url="http://127.0.0.1:1", key_id="k")
    assert (p.name, p.account) == ("env", "alice")
    assert p.source == "environment (SDC_ACCOUNT) + arguments (key_id, url)"


# ------------------------------------------------------------- the Profile


def test_repr_masks_the_passphrase(home):
    p = load_profile(url="https://h", account="a", key_id="k", passphrase="hunter2 secret")
    assert "hunter2" not in repr(p) and "passphrase='***'" in repr(p)
    assert "hunter2" not in str(p)
    assert p.passphrase == "hunter2 secret"
    assert "passphrase" not in repr(load_profile(url="https://h", account="a", key_id="k"))


def test_profile_loads_its_signer(home, tmp_path):
    from cryptography.hazmat.primitives import serialization as ser
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = tmp_path / "id_ed25519"
    key.write_bytes(ed25519.Ed25519PrivateKey.generate().private_bytes(
        ser.Encoding.PEM, ser.PrivateFormat.OpenSSH, ser.BestAvailableEncryption(b"pw")))
    p = load_profile(url="https://h", account="a", key_path=key, passphrase="pw")
    signer = p.signer()
    assert signer.algorithm == "ed25519-sha512" and signer.source == str(key)


# ------------------------------------------------------ built-in providers


def test_demo_profile_is_a_clear_error_until_the_demo_module_exists(home, monkeypatch):
    monkeypatch.setitem(sys.modules, "smartdc_nb.demo", None)  # as if the module did not exist
    with pytest.raises(ConfigError, match='the "demo" profile is the embedded demo cloud .* not available'):
        load_profile("demo")


def test_a_demo_json_file_wins_over_the_provider(home, monkeypatch):
    monkeypatch.setitem(sys.modules, "smartdc_nb.demo", None)
    write_profile(home, "demo", {**PROD, "account": "file-demo"})
    assert load_profile("demo").account == "file-demo"


def test_registered_provider(home, monkeypatch):
    monkeypatch.setitem(config._PROVIDERS, "lab", None)  # removed again after the test
    calls = []

    def lab():
        calls.append(1)
        return Profile(name="ignored", url="http://127.0.0.1:4000", account="demo", key_path="/k", source="x")

    register_profile_provider("lab", lab)
    p = load_profile("lab", account="other")
    assert (p.name, p.url, p.account, p.key_path) == ("lab", "http://127.0.0.1:4000", "other", "/k")
    assert p.source == 'built-in "lab" profile + arguments (account)'
    register_profile_provider("lab", lambda: {"url": "127.0.0.1", "account": "a", "key_id": "k"})
    with pytest.raises(ConfigError, match="URL '127.0.0.1' from built-in \"lab\" profile has no scheme"):
        load_profile("lab")
    assert calls == [1]


# ------------------------------------------- the triton CLI as the judge


def _cli_profile(env: dict[str, str]) -> dict:
    done = subprocess.run([str(TRITON), "profile", "get", "-j"], env=env, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.triton_cli
@pytest.mark.parametrize("scenario", ["config-json", "triton-profile", "xdg", "env-sdc", "env-mixed", "role-env"])
def test_same_profile_as_the_triton_cli(scenario, home, tmp_path):
    if not TRITON.exists() or shutil.which("node") is None:
        require_tool("the triton CLI is not installed (tests/node/node_modules/.bin/triton)")
    env = {"HOME": str(tmp_path), "PATH": os.environ["PATH"]}
    write_profile(home, "prod", PROD)
    write_profile(home, "lab", {"url": "http://127.0.0.1:8080", "account": "lab", "keyId": "aa:bb", "insecure": True})
    if scenario == "config-json":
        set_default(home, "lab")
    elif scenario == "triton-profile":
        set_default(home, "lab")
        env["TRITON_PROFILE"] = "prod"
    elif scenario == "xdg":
        write_profile(tmp_path / "xdg" / "triton", "p", {**PROD, "account": "xdg"})
        set_default(tmp_path / "xdg" / "triton", "p")
        env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    elif scenario == "env-sdc":
        env.update(SDC_URL="https://sdc.example", SDC_ACCOUNT="s", SDC_KEY_ID="11:22", SDC_TESTING="1", SDC_USER="u")
    elif scenario == "env-mixed":
        env.update(SDC_URL="https://sdc.example", TRITON_URL="https://t.example", SDC_ACCOUNT="s",
                   TRITON_KEY_ID="SHA256:xyz", TRITON_TLS_INSECURE="0", SDC_TESTING="1", TRITON_ACT_AS="corp")
    elif scenario == "role-env":
        env.update(TRITON_PROFILE="prod", TRITON_ROLE="a,b", TRITON_ACCOUNT="ignored")
    cli = _cli_profile(env)
    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureTLSWarning)  # insecure=True is tested above
        for var, value in env.items():
            mp.setenv(var, value)
        ours = load_profile()
    assert ours.name == cli["name"]
    assert ours.url == cli["url"] and ours.account == cli["account"] and ours.key_id == cli["keyId"]
    assert ours.user == cli.get("user") and ours.act_as == cli.get("actAsAccount")
    assert ours.roles == tuple(cli.get("roles") or ())
    assert ours.insecure == bool(cli.get("insecure"))


def test_a_url_override_drops_the_profiles_datacenter_name():
    from smartdc_nb.config import Profile, load_profile

    base = Profile(name="p", url="http://127.0.0.1:1", account="demo", key_id="aa:bb",
                   datacenter="us-east-1")
    assert load_profile(base).datacenter == "us-east-1"
    assert load_profile(base, account="other").datacenter == "us-east-1"
    assert load_profile(base, url="http://127.0.0.1:2").datacenter is None
