"""Where the ``triton`` CLI keeps its configuration, and reading its ``config.json``.

The config dir is ``$TRITONTEST_CLI_CONFIG_DIR``, else ``$XDG_CONFIG_HOME/triton``, else
``~/.triton``; profiles are ``<config dir>/profiles.d/<name>.json``. Profiles themselves
are read in :mod:`smartdc_nb.config`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .errors import ConfigError


def _env(name: str) -> str | None:
    return os.environ.get(name) or None  # like the CLI, an empty variable counts as unset


def config_dir() -> Path:
    """The triton CLI's config dir: $TRITONTEST_CLI_CONFIG_DIR, $XDG_CONFIG_HOME/triton or ~/.triton."""
    if _env("TRITONTEST_CLI_CONFIG_DIR"):
        return Path(_env("TRITONTEST_CLI_CONFIG_DIR")).expanduser()
    if _env("XDG_CONFIG_HOME"):
        return Path(_env("XDG_CONFIG_HOME")).expanduser() / "triton"
    return Path.home() / ".triton"


def profile_names() -> list[str]:
    """Names of the profiles in ``<config dir>/profiles.d``, sorted."""
    directory = config_dir() / "profiles.d"
    try:
        return sorted(p.stem for p in directory.iterdir() if p.suffix == ".json" and p.stem != "env")
    except OSError:
        return []


def present(path: Path) -> bool:
    """Whether something is at ``path`` to read: a directory or a broken or looping link too,
    which reading then says is unusable. Taking those for absent said "does not exist" of a
    profile listed as there, and chose another profile than config.json named, silently."""
    return os.path.lexists(path)


def _read_json(path: Path, what: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{what} {path} cannot be read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{what} {path} is not UTF-8 text ({exc.reason} at byte {exc.start}): "
                          "save it as UTF-8 JSON, as the triton CLI writes it") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{what} {path} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None


def _default_profile_name(directory: Path) -> tuple[str | None, str]:
    """The ``profile`` named in config.json, and a note of what was examined."""
    path = directory / "config.json"
    if not present(path):
        return None, f"{path} (absent)"
    config = _read_json(path, "triton config")
    if not isinstance(config, dict):
        raise ConfigError(f"triton config {path} must hold a JSON object, not {type(config).__name__}")
    name = config.get("profile")
    if name is not None and (not isinstance(name, str) or not name):
        raise ConfigError(f'triton config {path}: "profile" must be a profile name, not {name!r}')
    return name, f"{path} (profile: {name})" if name else f"{path} (no \"profile\")"
