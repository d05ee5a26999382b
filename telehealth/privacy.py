"""Pseudonymous patient ids: a keyed hash of the sender id (on WhatsApp, the phone number).

Tables that count or link a patient's records store ``patient_ref(sender_id)`` and never the
number itself. The key comes from ``PATIENT_ID_KEY`` (production: set it, keep it secret and
stable; changing it unlinks earlier records). Without it, the embedded default creates a random
key once in ``var/patient_id.key`` (mode 600, outside git) so that ``make run`` needs no setup.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Callable

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
KEY_FILE = ROOT / "var" / "patient_id.key"


def _local_secret(path: Path, env_name: str, make: Callable[[], bytes]) -> bytes:
    """The secret in ``path``, created once (mode 600) when it does not exist yet.

    Race-safe across threads and processes (the receiver's first webhooks arrive together): the
    secret is written in full to a private temporary file, then published with ``os.link``,
    which fails if another caller published first; nobody ever reads a half-written file."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 600
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(make())
                fh.flush()
                os.fsync(fh.fileno())
            os.link(tmp, path)
            logger.warning("%s is not set: created a local key in %s (set it in production)", env_name, path)
        except FileExistsError:  # another thread or process published its secret first: use that one
            pass
        finally:
            os.unlink(tmp)
    return path.read_bytes().strip()


@lru_cache(maxsize=1)
def _key() -> bytes:
    env = os.environ.get("PATIENT_ID_KEY")
    if env:
        return env.encode("utf-8")
    return _local_secret(KEY_FILE, "PATIENT_ID_KEY", lambda: secrets.token_hex(32).encode("ascii"))


def patient_ref(sender_id: str) -> str:
    """A stable pseudonym for ``sender_id``; not reversible without the key."""
    return hmac.new(_key(), sender_id.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


# ----- encryption at rest -----------------------------------------------------------------
# Messages waiting to be processed or sent hold phone numbers and health text: they are stored
# encrypted (Fernet: AES-128-CBC + HMAC-SHA256, from the `cryptography` package Rasa ships).
# Key: DATA_ENCRYPTION_KEY (a Fernet key: `python -c "from cryptography.fernet import Fernet;
# print(Fernet.generate_key().decode())"`); without it a local key is created in var/ like above.

DATA_KEY_FILE = ROOT / "var" / "data_encryption.key"


@lru_cache(maxsize=1)
def _fernet():
    from cryptography.fernet import Fernet

    env = os.environ.get("DATA_ENCRYPTION_KEY")
    if env:
        return Fernet(env.encode("ascii"))
    return Fernet(_local_secret(DATA_KEY_FILE, "DATA_ENCRYPTION_KEY", Fernet.generate_key))


def encrypt(data: bytes) -> str:
    return _fernet().encrypt(data).decode("ascii")


def decrypt(token: str) -> bytes:
    return _fernet().decrypt(token.encode("ascii"))
