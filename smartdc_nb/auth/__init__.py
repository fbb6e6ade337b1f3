"""Request signing for CloudAPI: HTTP Signature with SSH keys from files or an ssh-agent.

    >>> from smartdc_nb.auth import load_signer, HTTPSignatureAuth
    >>> signer = load_signer(key_id="SHA256:...")          # ~/.ssh, then $SSH_AUTH_SOCK
    >>> session.auth = HTTPSignatureAuth(signer, "myaccount")

Signers never prompt (an encrypted key's passphrase comes from an argument or
``SMARTDC_NB_KEY_PASSPHRASE``), are safe to share between threads, and every
failure to find or use a key is a :class:`smartdc_nb.errors.AuthError`.
"""

from __future__ import annotations

from .agent import AgentClient, AgentSigner
from .fingerprints import KeyId, md5_fingerprint, parse_key_id, sha256_fingerprint
from .httpauth import HTTPSignatureAuth, http_date, signing_string
from .keys import PASSPHRASE_ENV, KeyFileSigner, PassphraseRequired
from .locate import load_signer
from .signer import Signer

__all__ = [
    "AgentClient",
    "AgentSigner",
    "HTTPSignatureAuth",
    "KeyFileSigner",
    "KeyId",
    "PASSPHRASE_ENV",
    "PassphraseRequired",
    "Signer",
    "http_date",
    "load_signer",
    "md5_fingerprint",
    "parse_key_id",
    "sha256_fingerprint",
    "signing_string",
]
