"""Profiles that cannot be used, refused with a ConfigError that says what was examined and
what is wrong: nothing configured, a missing or malformed profile or config.json, fields of
the wrong type or missing, URLs without a scheme or with another, and bad arguments.

Every test runs with a temporary HOME and a scrubbed environment, never the real ~/.triton
(conftest's ``home``).
"""

from __future__ import annotations

import warnings

import pytest

from smartdc_nb import config
from smartdc_nb.config import InsecureTLSWarning, load_profile
from smartdc_nb.errors import ConfigError
from test_config_support import PROD, set_default, write_profile


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
