"""Connection profiles, read the way the ``triton`` CLI reads them.

Which profile: the ``profile`` argument, else ``$TRITON_PROFILE``, else
``"profile"`` in ``<config dir>/config.json``, else the special ``env`` profile
built from ``TRITON_*``/``SDC_*`` variables. The config dir is
``$TRITONTEST_CLI_CONFIG_DIR``, else ``$XDG_CONFIG_HOME/triton``, else
``~/.triton``; a named profile is ``<config dir>/profiles.d/<name>.json``.
Keyword arguments override any field. With nothing configured, arguments
giving url, account and key_id (or key_path) make an ad-hoc profile.

Names with a built-in provider (``"demo"``, the embedded demo cloud) are used
when no file of that name exists.

Differences from the CLI, on purpose: fields the CLI rejects as extraneous are
ignored with a warning instead of failing, and a profile may name a private
key file (``key_path``) instead of a key id.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import os
import sys
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .config_files import (_default_profile_name, _env, _read_json, config_dir, present,
                           profile_names)
from .errors import ConfigError

__all__ = [
    "InsecureTLSWarning",
    "Profile",
    "check_url",
    "config_dir",
    "load_profile",
    "profile_names",
    "register_profile_provider",
]

log = logging.getLogger("smartdc_nb.config")

# profile file field -> Profile attribute (the CLI's allowed set)
FILE_FIELDS = {
    "url": "url",
    "account": "account",
    "keyId": "key_id",
    "insecure": "insecure",
    "user": "user",
    "roles": "roles",
    "actAsAccount": "act_as",
}
OVERRIDES = ("url", "account", "key_id", "user", "roles", "act_as", "insecure", "key_path", "passphrase")

# env profile field -> variables, first set wins (TRITON_* before SDC_*)
ENV_VARS = {
    "url": ("TRITON_URL", "SDC_URL"),
    "account": ("TRITON_ACCOUNT", "SDC_ACCOUNT"),
    "key_id": ("TRITON_KEY_ID", "SDC_KEY_ID"),
    "user": ("TRITON_USER", "SDC_USER"),
    "act_as": ("TRITON_ACT_AS",),
}
INSECURE_VARS = ("TRITON_TLS_INSECURE", "SDC_TLS_INSECURE")
ROLE_VAR = "TRITON_ROLE"  # like the CLI's -r option, it applies to every profile


class InsecureTLSWarning(UserWarning):
    """A profile turned TLS certificate verification off."""


_PACKAGE_DIR = str(Path(__file__).resolve().parent) + os.sep


def _warn(message: str, category: type[Warning] = UserWarning) -> None:
    """Warn, attributed to the first caller outside smartdc_nb (so a notebook shows its own cell)."""
    frame, level = sys._getframe(1), 2
    while frame is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


@dataclass(frozen=True)
class Profile:
    """Everything needed to talk to one CloudAPI as one account.

    ``key_id`` is an SSH key fingerprint (MD5 or SHA256 form) looked up in
    ``~/.ssh`` and the ssh-agent; ``key_path`` names a private key file instead
    (or as well). ``act_as`` is the account whose resources are addressed
    (operators, cross-account roles); ``source`` says where the values came from.
    """

    name: str
    url: str
    account: str
    key_id: str | None = None
    user: str | None = None
    roles: tuple[str, ...] = ()
    act_as: str | None = None
    insecure: bool = False
    key_path: str | None = None
    passphrase: str | None = None
    source: str = ""
    #: the name of the datacenter ``url`` points at, when the profile knows it (the demo
    #: cloud does; triton CLI profiles do not say, so it is learnt from dc.datacenters())
    datacenter: str | None = None

    @property
    def acting_account(self) -> str:
        """The account in request paths: ``act_as`` if set, else ``account``."""
        return self.act_as or self.account

    def signer(self, **kwargs: Any):
        """Load this profile's signer (see :func:`smartdc_nb.auth.load_signer`; kwargs pass through)."""
        from .auth import load_signer

        return load_signer(key_id=self.key_id, key_path=self.key_path, passphrase=self.passphrase, **kwargs)

    def __repr__(self) -> str:
        shown = []
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name == "passphrase" and value is not None:
                value = "***"
            elif value in (None, (), "") or (field.name == "insecure" and not value):
                continue
            shown.append(f"{field.name}={value!r}")
        return f"Profile({', '.join(shown)})"


# ------------------------------------------------------------- built-in names

ProfileProvider = Callable[[], "Profile | Mapping[str, Any]"]
_PROVIDERS: dict[str, ProfileProvider] = {}


def register_profile_provider(name: str, provider: ProfileProvider) -> None:
    """Make ``name`` a built-in profile: ``provider()`` returns a Profile or a mapping of its fields.

    A ``profiles.d/<name>.json`` file of the same name still wins.
    """
    _PROVIDERS[name] = provider


def _demo_profile() -> Profile | Mapping[str, Any]:
    try:
        demo = importlib.import_module("smartdc_nb.demo")
    except ModuleNotFoundError as exc:
        if exc.name != "smartdc_nb.demo":
            raise
        raise ConfigError(
            'the "demo" profile is the embedded demo cloud (smartdc_nb.demo), which is not available '
            "in this version yet; use a triton CLI profile, or url=..., account=... and key_id=..."
        ) from None
    return demo.demo_profile()


register_profile_provider("demo", _demo_profile)


# ----------------------------------------------------------------- field checks


def _bool_from_env(var: str, value: str) -> bool:
    # The CLI's rule (common.boolFromString): exactly these four spellings.
    if value in ("1", "true"):
        return True
    if value in ("0", "false"):
        return False
    raise ConfigError(f"invalid boolean value for {var}: {value!r} (use 1, true, 0 or false)")


def _check_types(fields: dict[str, Any], where: str) -> None:
    for attr, value in fields.items():
        if value is None:
            continue
        if attr == "insecure":
            ok = isinstance(value, bool)
            want = "true or false"
        elif attr == "roles":
            ok = isinstance(value, (list, tuple)) and all(isinstance(r, str) for r in value)
            want = "a list of role names"
        else:
            ok = isinstance(value, str)
            want = "a string"
        if not ok:
            raise ConfigError(f"{where}: {attr} must be {want}, not {value!r}")


def check_url(url: str, where: str = "the url argument") -> str:
    """``url`` without a trailing slash; ConfigError unless it is http(s)://host[:port][/path]."""
    if not isinstance(url, str):
        raise ConfigError(f"URL {url!r} from {where} is not a string: use https://host or http://host:port")
    parts = urlsplit(url)
    if "://" not in url or not parts.netloc:
        raise ConfigError(f"URL {url!r} from {where} has no scheme and host: use https://host or http://host:port")
    if parts.scheme.lower() not in ("http", "https"):
        raise ConfigError(f"URL {url!r} from {where} is not http(s): use https://host or http://host:port")
    return url.rstrip("/")


def _from_file(path: Path, name: str) -> dict[str, Any]:
    data = _read_json(path, f'profile "{name}"')
    if not isinstance(data, dict):
        raise ConfigError(f'profile "{name}" {path} must hold a JSON object, not {type(data).__name__}')
    extra = sorted(set(data) - set(FILE_FIELDS))
    if extra:
        _warn(
            f'profile "{name}" ({path}) has fields the triton CLI rejects as extraneous: {", ".join(extra)}; '
            "smartdc_nb ignores them"
        )
    fields = {attr: data.get(key) for key, attr in FILE_FIELDS.items()}
    _check_types(fields, f'profile "{name}" ({path})')
    return fields


def _from_env() -> tuple[dict[str, Any], list[str]]:
    """The ``env`` profile's fields and the variables they came from."""
    fields: dict[str, Any] = {}
    used = []
    for attr, names in ENV_VARS.items():
        for var in names:
            if _env(var):
                fields[attr] = _env(var)
                used.append(var)
                break
    for var in INSECURE_VARS:
        if _env(var):
            fields["insecure"] = _bool_from_env(var, _env(var))
            used.append(var)
            break
    else:
        if _env("SDC_TESTING"):  # legacy smartdc tools: any non-empty value means insecure
            fields["insecure"] = True
            used.append("SDC_TESTING")
    return fields, used


def _fields_of(profile: Profile) -> dict[str, Any]:
    return {f.name: getattr(profile, f.name) for f in dataclasses.fields(Profile) if f.name not in ("name", "source")}


def _from_provider(name: str) -> dict[str, Any]:
    result = _PROVIDERS[name]()
    if isinstance(result, Profile):
        return _fields_of(result)
    if not isinstance(result, Mapping):
        raise ConfigError(f'the built-in "{name}" profile provider returned {type(result).__name__}, not a Profile')
    return {k: v for k, v in result.items() if k not in ("name", "source")}


# --------------------------------------------------------------------- loading


def load_profile(profile: str | Profile | None = None, **overrides: Any) -> Profile:
    """Resolve a profile as the triton CLI does; keyword arguments override its fields.

    ``profile`` is a profile name (or a Profile to override). Accepted
    overrides: url, account, key_id, user, roles (list or comma-separated
    string), act_as, insecure, key_path, passphrase; ``None`` means "not
    given". Raises :class:`ConfigError` naming what was looked for and where.
    Warns (:class:`InsecureTLSWarning`) when TLS verification is off.
    """
    unknown = sorted(set(overrides) - set(OVERRIDES))
    if unknown:
        raise ConfigError(f"unknown profile setting(s) {', '.join(unknown)}; accepted: {', '.join(OVERRIDES)}")
    given = {k: v for k, v in overrides.items() if v is not None}
    if isinstance(given.get("roles"), str):
        given["roles"] = [r for r in given["roles"].split(",") if r]
    _check_types({k: v for k, v in given.items() if k in FILE_FIELDS.values()}, "arguments")

    looked: list[str] = []
    if isinstance(profile, Profile):
        name, fields, sources = profile.name, _fields_of(profile), [profile.source or "a Profile object"]
    else:
        name, fields, sources = _select(profile, looked)
    if _env(ROLE_VAR) and "roles" not in given:
        fields["roles"] = [r for r in _env(ROLE_VAR).split(",") if r]
        sources.append(ROLE_VAR)
    if "url" in given and given["url"] != fields.get("url"):
        fields.pop("datacenter", None)  # the profile's datacenter name was for its own url
    fields.update(given)
    if given:
        sources.append("arguments (" + ", ".join(sorted(given)) + ")")
    return _finish(name, fields, " + ".join(sources), looked)


def _select(profile: str | None, looked: list[str]) -> tuple[str, dict[str, Any], list[str]]:
    """(name, fields, sources) of the profile chosen by argument, TRITON_PROFILE, config.json or env.

    Appends to ``looked`` what was examined to choose, for error messages.
    """
    directory = config_dir()
    if profile is not None:
        name, why = profile, "the profile argument"
    elif _env("TRITON_PROFILE"):
        name, why = _env("TRITON_PROFILE"), "$TRITON_PROFILE"
    else:
        looked.append("no profile argument, TRITON_PROFILE unset")
        name, note = _default_profile_name(directory)
        looked.append(note)
        why = str(directory / "config.json")
    if name is None:
        name = "env"
    elif not isinstance(name, str) or not name or "/" in name or name.startswith("."):
        raise ConfigError(f"invalid profile name {name!r} (from {why})")

    if name == "env":
        fields, used = _from_env()
        if not used and profile is None:
            return "adhoc", fields, []  # nothing configured: only arguments can make a profile
        return name, fields, [f"environment ({', '.join(used)})"] if used else []
    path = directory / "profiles.d" / f"{name}.json"
    if present(path):
        return name, _from_file(path, name), [f"profile file {path}"]
    if name in _PROVIDERS:
        return name, _from_provider(name), [f'built-in "{name}" profile']
    known = ", ".join(profile_names()) or "none"
    raise ConfigError(
        f'no profile "{name}" (named by {why}): {path} does not exist (profiles there: {known}). '
        f"Create it with `triton profile create`, or (from Python) pass url=..., account=... and "
        "key_id=..."
    )


def _finish(name: str, fields: dict[str, Any], source: str, looked: list[str]) -> Profile:
    missing = [a for a in ("url", "account") if not fields.get(a)]
    if not fields.get("key_id") and not fields.get("key_path"):
        missing.append("key_id")
    if missing:
        raise ConfigError(_missing_message(name, missing, source, looked))
    where = source or f'profile "{name}"'
    fields["url"] = check_url(fields["url"], where)
    fields["roles"] = tuple(fields.get("roles") or ())
    fields["insecure"] = bool(fields.get("insecure"))
    if fields.get("key_path") is not None:
        fields["key_path"] = os.fspath(fields["key_path"])
    known = {f.name for f in dataclasses.fields(Profile)}
    result = Profile(name=name, source=source, **{k: v for k, v in fields.items() if k in known})
    if result.insecure:
        warn_insecure(result.url, where)
    log.debug("profile %r for %s@%s from %s", name, result.account, result.url, where)
    return result


def warn_insecure(url: str, where: str) -> None:
    """Warn that TLS verification is off for ``url`` (https only: http has none to turn off)."""
    if url.lower().startswith("https:"):
        _warn(
            f"TLS certificate verification is off for {url} (insecure, from {where}): "
            "anyone between you and the cloud can read and change the traffic",
            InsecureTLSWarning,
        )


def _missing_message(name: str, missing: list[str], source: str, looked: list[str]) -> str:
    if name not in ("env", "adhoc"):
        return (
            f'profile "{name}" ({source}) lacks {", ".join(missing)}; '
            "add it to the profile or pass it as an argument"
        )
    variables = "; ".join(" or ".join(ENV_VARS[a]) + " (unset)" for a in missing)
    examined = "; ".join(looked)
    return (
        f"no profile found: {examined + '; ' if examined else ''}the env profile lacks {', '.join(missing)} "
        f"({variables}). Name a triton CLI profile (profile=... or TRITON_PROFILE), set the variables, "
        "or (from Python) pass url=..., account=... and key_id=... (or key_path=...)"
    )
