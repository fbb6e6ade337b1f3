"""Profiles as the triton CLI reads them: files, config.json, TRITON_*/SDC_* variables, arguments.

Every test runs with a temporary HOME and a scrubbed environment, never the real ~/.triton.
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

TRITON = Path(__file__).parent / "node" / "node_modules" / ".bin" / "triton"
_SCRUB = ("TRITONTEST_CLI_CONFIG_DIR", "XDG_CONFIG_HOME", "TRITON_PROFILE", "TRITON_ROLE", "SDC_TESTING",
          "SMARTDC_NB_KEY_PASSPHRASE", "SSH_AUTH_SOCK",
          *(v for names in config.ENV_VARS.values() for v in names), *config.INSECURE_VARS)


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """An empty HOME with no triton or SDC variables; returns the ~/.triton path (not created)."""
    for var in _SCRUB:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path / ".triton"


def write_profile(config_dir: Path, name: str, content) -> Path:
    path = config_dir / "profiles.d" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def set_default(config_dir: Path, name: str) -> None:
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "config.json").write_text(json.dumps({"profile": name, "cacheDir": "cache"}))


PROD = {"url": "https://us-east-1.example.com", "account": "alice", "keyId": "SHA256:abc",
        "user": "ops", "roles": ["admin", "ro"], "actAsAccount": "corp", "insecure": False}

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


# ----------------------------------------------------------------- bad input


def test_nothing_configured_says_what_was_examined(home):
    with pytest.raises(ConfigError) as excinfo:
        load_profile()
    message = str(excinfo.value)
    assert "TRITON_PROFILE unset" in message
    assert f"{home / 'config.json'} (absent)" in message
    assert "TRITON_URL or SDC_URL (unset)" in message and "TRITON_KEY_ID or SDC_KEY_ID (unset)" in message
    assert "url=..., account=... and key_id=..." in message


def test_env_profile_missing_one_variable(home, monkeypatch):
    monkeypatch.setenv("TRITON_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("TRITON_KEY_ID", "k")
    with pytest.raises(ConfigError, match=r"the env profile lacks account \(TRITON_ACCOUNT or SDC_ACCOUNT \(unset\)\)"):
        load_profile()


def test_missing_named_profile(home, monkeypatch):
    write_profile(home, "staging", PROD)
    monkeypatch.setenv("TRITON_PROFILE", "prod")
    with pytest.raises(ConfigError) as excinfo:
        load_profile()
    message = str(excinfo.value)
    assert 'no profile "prod" (named by $TRITON_PROFILE)' in message
    assert f"{home / 'profiles.d' / 'prod.json'} does not exist" in message
    assert "(profiles there: staging)" in message


def test_missing_default_profile_names_config_json(home):
    set_default(home, "gone")
    with pytest.raises(ConfigError, match=f'no profile "gone" \\(named by {home / "config.json"}\\)'):
        load_profile()


@pytest.mark.parametrize("text, line, column", [
    ('{"url": "https://h",\n "account": "a",\n "keyId": }', 3, 11),
    ('{"url": "https://h" "account": "a"}', 1, 21),
    ("", 1, 1),
])
def test_malformed_profile_json(home, text, line, column):
    path = write_profile(home, "broken", text)
    with pytest.raises(ConfigError) as excinfo:
        load_profile("broken")
    assert str(excinfo.value).startswith(f'profile "broken" {path} is not valid JSON: ')
    assert str(excinfo.value).endswith(f"at line {line}, column {column}")


def test_malformed_config_json(home):
    home.mkdir()
    (home / "config.json").write_text('{"profile": "x",}')
    # Python 3.13's json names the trailing comma (column 16), earlier ones the brace after it
    with pytest.raises(ConfigError, match=r"triton config .*config.json is not valid JSON: .* at line 1, column 1[67]"):
        load_profile()
    (home / "config.json").write_text('["x"]')
    with pytest.raises(ConfigError, match="must hold a JSON object, not list"):
        load_profile()


def test_profile_that_is_not_an_object(home):
    write_profile(home, "list", "[1, 2]")
    with pytest.raises(ConfigError, match=r'profile "list" .*list.json must hold a JSON object, not list'):
        load_profile("list")


@pytest.mark.parametrize("damage, said", [
    ("not UTF-8", r"is not UTF-8 text \(invalid start byte at byte 0\)"),
    ("a directory", r"cannot be read: Is a directory"),
    ("a link to itself", r"cannot be read: Too many levels of symbolic links"),
])
@pytest.mark.parametrize("which", ["profile", "config.json"])
def test_a_damaged_profile_or_config_file_is_named_not_called_absent(home, which, damage, said):
    """A profile file that is a directory or a symlink loop was said not to exist (while the
    same message listed it among the profiles); a config.json that was one was taken as absent
    and the env profile used in its place, silently; a file not in UTF-8 raised a bare
    UnicodeDecodeError naming no file. Each now names the file and what is wrong with it."""
    if which == "profile":
        path, label = home / "profiles.d" / "lab.json", 'profile "lab"'
    else:
        path, label = home / "config.json", "triton config"
    path.parent.mkdir(parents=True)
    if damage == "not UTF-8":
        path.write_bytes(b'\xff{"url": "https://h"}')
    elif damage == "a directory":
        path.mkdir()
    else:
        path.symlink_to(path)
    with pytest.raises(ConfigError, match=f"^{label} {path} {said}"):
        load_profile("lab" if which == "profile" else None)


@pytest.mark.parametrize("field, value, message", [
    ("insecure", "yes", "insecure must be true or false, not 'yes'"),
    ("roles", "admin", "roles must be a list of role names, not 'admin'"),
    ("account", 42, "account must be a string, not 42"),
])
def test_wrongly_typed_fields(home, field, value, message):
    path = write_profile(home, "typed", {**PROD, field: value})
    with pytest.raises(ConfigError) as excinfo:
        load_profile("typed")
    assert str(excinfo.value) == f'profile "typed" ({path}): {message}'


def test_extraneous_fields_warn_and_are_ignored(home):
    path = write_profile(home, "extra", {**PROD, "name": "extra", "privKey": "secret", "cacheDir": "x"})
    with pytest.warns(UserWarning) as record:
        p = load_profile("extra")
    message = str(record[0].message)
    assert f'profile "extra" ({path}) has fields the triton CLI rejects as extraneous: ' in message
    assert "extraneous: cacheDir, name, privKey;" in message
    assert "smartdc_nb ignores them" in message
    assert record[0].filename == __file__  # attributed to the caller, not to smartdc_nb
    assert p.account == "alice"


def test_profile_missing_required_fields(home):
    write_profile(home, "partial", {"url": "https://h"})
    with pytest.raises(ConfigError) as excinfo:
        load_profile("partial")
    assert str(excinfo.value).startswith('profile "partial" (profile file ')
    assert "lacks account, key_id; add it to the profile or pass it as an argument" in str(excinfo.value)
    assert load_profile("partial", account="a", key_id="k").account == "a"


@pytest.mark.parametrize("url", ["us-east-1.example.com", "127.0.0.1:8080", "//host", "https://"])
def test_url_without_scheme(home, url):
    with pytest.raises(ConfigError) as excinfo:
        load_profile(url=url, account="a", key_id="k")
    assert f"URL {url!r}" in str(excinfo.value)
    assert str(excinfo.value).endswith("has no scheme and host: use https://host or http://host:port")


def test_check_url_alone():
    assert config.check_url("https://cloudapi.example.com:8443/") == "https://cloudapi.example.com:8443"
    with pytest.raises(ConfigError, match="URL 'cloudapi.example.com' from the url argument has no scheme and host"):
        config.check_url("cloudapi.example.com")
    with pytest.raises(ConfigError, match="URL None from the url argument is not a string"):
        config.check_url(None)


def test_url_with_another_scheme(home):
    write_profile(home, "ftp", {**PROD, "url": "ftp://host"})
    with pytest.raises(ConfigError, match=r"URL 'ftp://host' from profile file .*ftp.json is not http\(s\)"):
        load_profile("ftp")


def test_insecure_https_warns_and_http_does_not(home):
    with pytest.warns(InsecureTLSWarning, match="TLS certificate verification is off for https://h"):
        assert load_profile(url="https://h", account="a", key_id="k", insecure=True).insecure
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_profile(url="http://127.0.0.1:1", account="a", key_id="k", insecure=True).insecure
        assert not load_profile(url="https://h", account="a", key_id="k").insecure


def test_bad_arguments(home):
    with pytest.raises(ConfigError, match="unknown profile setting.s. keyId, login; accepted: url, account, key_id"):
        load_profile(url="https://h", login="a", keyId="k")
    with pytest.raises(ConfigError, match="arguments: insecure must be true or false, not 'yes'"):
        load_profile(url="https://h", account="a", key_id="k", insecure="yes")
    for name in ("../etc/passwd", ".hidden", ""):
        with pytest.raises(ConfigError, match="invalid profile name"):
            load_profile(name)


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
