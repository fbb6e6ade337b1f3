"""Find the signing key for a key id the way the triton CLI does: ~/.ssh, then the ssh-agent."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from ..errors import AuthError
from .agent import AgentSigner
from .fingerprints import KeyId, parse_key_id, public_blob
from .keys import KeyFileSigner, PassphraseRequired, load_private_key, openssh_header
from .signer import KeySigner

log = logging.getLogger("smartdc_nb.auth")

# smartdc-auth's homedir plugin considers a private key without a .pub only if
# its name looks like ssh-keygen's default names (id_rsa, id_ed25519, ...).
_LONE_PRIVATE_KEY = re.compile(r"(^|[^a-zA-Z])id_")


def _lone_private_blob(path: Path) -> bytes | None:
    """The public blob of a private key file that has no .pub, or None if it cannot be had."""
    data = path.read_bytes()
    if b"OPENSSH PRIVATE KEY" in data:
        return openssh_header(data)[0]  # clear text even when the key is encrypted
    if b"ENCRYPTED" in data:
        return None  # an encrypted PEM key hides its public half too
    return public_blob(load_private_key(data, str(path)))


def find_key_file(ssh_dir: Path, kid: KeyId) -> tuple[Path | None, str]:
    """(private key path matching ``kid`` or None, a summary of what was examined).

    Public keys are fingerprinted; a private key is parsed only when it has no
    .pub (and a name matching the CLI's ``id_`` rule).
    """
    try:
        names = sorted(os.listdir(ssh_dir))
    except OSError as exc:
        return None, f"{ssh_dir} ({exc.strerror or exc})"
    examined, skipped = [], []
    for name in names:
        path = ssh_dir / name
        if not path.is_file():  # follows symlinks, as the CLI does
            continue
        try:
            if name.endswith(".pub"):
                private = path.with_name(name[:-4])
                if not private.is_file():
                    continue
                examined.append(name)
                blob = public_blob(path.read_bytes())
            elif _LONE_PRIVATE_KEY.search(name) and not path.with_name(name + ".pub").exists():
                private = path
                examined.append(name)
                blob = _lone_private_blob(path)
                if blob is None:
                    skipped.append(f"{name}: encrypted PEM without a .pub, cannot be fingerprinted")
                    continue
            else:
                continue
        except (OSError, ValueError, AuthError) as exc:
            skipped.append(f"{name}: {exc}")
            continue
        if kid.matches(blob):
            return private, f"{ssh_dir}: {private.name}"
    summary = f"{ssh_dir} ({len(examined)} key{'' if len(examined) == 1 else 's'}: {', '.join(examined) or 'none'})"
    if skipped:
        summary += f" [skipped {'; '.join(skipped)}]"
    return None, summary


def load_signer(
    key_id: str | None = None,
    key_path: str | os.PathLike | None = None,
    passphrase: str | bytes | None = None,
    ssh_dir: str | os.PathLike | None = None,
    agent_socket: str | bool | None = None,
) -> KeySigner:
    """The signer for a key, found as the triton CLI finds it.

    An explicit ``key_path`` wins (and must match ``key_id`` if both are given).
    Otherwise ``key_id`` (MD5 or SHA256 fingerprint) is looked up among the keys
    in ``ssh_dir`` (default ``~/.ssh``), then in the ssh-agent at
    ``agent_socket`` (default ``$SSH_AUTH_SOCK``; ``False`` to skip the agent).
    An encrypted key file without a passphrase yields to an agent that holds
    the same key. Never prompts; every failure is an :class:`AuthError`.
    """
    if key_path is not None:
        signer = KeyFileSigner(key_path, passphrase)
        if key_id is not None and not parse_key_id(key_id).matches(signer.key_blob):
            raise AuthError(
                f"key file {signer.path} has fingerprint {signer.md5_fingerprint} "
                f"({signer.sha256_fingerprint}), not the key id {key_id!r}: fix the key id or the key path"
            )
        log.debug("signing with %r", signer)
        return signer
    if key_id is None:
        raise AuthError(
            "no signing key: give key_id (the key's fingerprint, looked up in ~/.ssh and the ssh-agent) "
            "or key_path (a private key file)"
        )
    kid = parse_key_id(key_id)
    directory = Path(ssh_dir).expanduser() if ssh_dir is not None else Path.home() / ".ssh"
    match, looked = find_key_file(directory, kid)
    locked = None
    if match is not None:
        try:
            signer = KeyFileSigner(match, passphrase)
            log.debug("signing with %r", signer)
            return signer
        except PassphraseRequired as exc:
            locked = exc  # an unlocked copy in the agent is preferred, as the CLI does
    agent_note = _agent_note(agent_socket)
    if agent_note is None:
        try:
            signer = AgentSigner(kid, agent_socket if isinstance(agent_socket, str) else None)
            log.debug("signing with %r", signer)
            return signer
        except AuthError as exc:
            agent_note = str(exc)
    if locked is not None:
        raise PassphraseRequired(f"{locked} [ssh-agent: {agent_note}]")
    raise AuthError(
        f'SSH key with fingerprint "{key_id}" could not be located. Looked in {looked}; '
        f"ssh-agent: {agent_note}. Give key_path=PRIVATE_KEY_FILE, put the key with its .pub in "
        f"{directory}, or ssh-add it to an agent"
    )


def _agent_note(agent_socket: str | bool | None) -> str | None:
    """Why the agent is not to be tried, or None when it is."""
    if agent_socket is False:
        return "not used (agent_socket=False)"
    if not agent_socket and not os.environ.get("SSH_AUTH_SOCK"):
        return "not tried (SSH_AUTH_SOCK is not set)"
    return None
