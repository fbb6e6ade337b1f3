"""Writing triton CLI profiles and config.json in the config tests (no tests here); the
``home`` fixture that gives each test an empty HOME is in conftest.py."""

from __future__ import annotations

import json
from pathlib import Path


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
