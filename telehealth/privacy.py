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
from functools import lru_cache
from pathlib import Path

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
KEY_FILE = ROOT / "var" / "patient_id.key"


@lru_cache(maxsize=1)
def _key() -> bytes:
    env = os.environ.get("PATIENT_ID_KEY")
    if env:
        return env.encode("utf-8")
    if not KEY_FILE.exists():
        KEY_FILE.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
            logger.warning("PATIENT_ID_KEY is not set: created a local key in %s (set it in production)", KEY_FILE)
        except FileExistsError:  # another process created it first
            pass
    return KEY_FILE.read_text().strip().encode("utf-8")


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
    if not DATA_KEY_FILE.exists():
        DATA_KEY_FILE.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(DATA_KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(Fernet.generate_key())
            logger.warning("DATA_ENCRYPTION_KEY is not set: created a local key in %s (set it in production)", DATA_KEY_FILE)
        except FileExistsError:
            pass
    return Fernet(DATA_KEY_FILE.read_bytes().strip())


def encrypt(data: bytes) -> str:
    return _fernet().encrypt(data).decode("ascii")


def decrypt(token: str) -> bytes:
    return _fernet().decrypt(token.encode("ascii"))
