"""Deployment profiles: which services Rasa uses, chosen by one environment variable.

``TELEHEALTH_PROFILE`` selects the profile:

- ``embedded`` (the default; ``make run``): conversations in a SQLite file (``var/tracker.db``),
  Rasa's in-memory lock store, no event broker. Nothing to install.
- ``production`` (``make run-production``): the tracker store on PostgreSQL (Rasa's
  ``SQLTrackerStore``; it loads a conversation's events since its last session start, so a
  tracker is bounded by the session expiry in domain.yml), Redis as the lock store, RabbitMQ as
  the event broker (queue ``RASA_EVENTS_QUEUE``, for analytics consumers). The services come from
  ``TRACKER_DB_URL`` (default: ``DATABASE_URL``), ``REDIS_URL`` and ``RABBITMQ_URL``.

``python -m telehealth.deploy endpoints [path]`` writes the endpoints file for the profile
(default ``var/endpoints.yml``) from those variables; Rasa reads it with ``--endpoints``.
``python -m telehealth.deploy credentials [path]`` writes a worker's credentials from the
WHATSAPP_* variables (and, behind the receiver, RECEIVER_INTERNAL_TOKEN, SHARD_INDEX, SHARD_COUNT):
deploy/k8s/rasa-workers.yaml uses both. Only Rasa's own, documented extension points are used.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Dict, Optional
from urllib.parse import unquote, urlsplit

import yaml

ROOT = Path(__file__).resolve().parent.parent
EMBEDDED, PRODUCTION = "embedded", "production"
PROFILES = (EMBEDDED, PRODUCTION)
DEFAULT_QUEUE = "rasa_events"


class ConfigurationError(ValueError):
    """A variable the profile needs is missing or malformed (the message says which)."""


def profile(env: Optional[Dict[str, str]] = None) -> str:
    env = os.environ if env is None else env
    value = (env.get("TELEHEALTH_PROFILE") or EMBEDDED).strip().lower()
    if value not in PROFILES:
        raise ConfigurationError(f"TELEHEALTH_PROFILE must be one of {', '.join(PROFILES)}, not {value!r}")
    return value


def _require(env: Dict[str, str], *names: str) -> str:
    for name in names:
        if env.get(name):
            return env[name]
    raise ConfigurationError(f"the production profile needs {' or '.join(names)}")


#: The embedded profile's tracker store, a SQLite file (relative to the project, where Rasa runs).
EMBEDDED_TRACKER_DB = "var/tracker.db"

#: Rasa's SQL tracker store, keeping the trackers of recent conversations (telehealth/tracker_store.py).
TRACKER_STORE = "telehealth.tracker_store.CachedSQLTrackerStore"


def tracker_store(url: str) -> Dict[str, Any]:
    """Rasa's SQLTrackerStore settings from a SQLAlchemy URL (postgresql[+driver]://user:pw@host:port/db)."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+")[0]
    if scheme not in ("postgresql", "postgres"):
        raise ConfigurationError(f"TRACKER_DB_URL must be a PostgreSQL URL, not {parts.scheme!r}")
    settings: Dict[str, Any] = {
        "type": TRACKER_STORE, "dialect": "postgresql", "url": parts.hostname or "localhost",
        "port": parts.port or 5432, "db": (parts.path or "/").lstrip("/") or "rasa",
    }
    if parts.username:
        settings["username"] = unquote(parts.username)
    if parts.password:
        settings["password"] = unquote(parts.password)
    return settings


#: Rasa's Redis lock store with atomic ticket scripts (telehealth/lock_store.py).
LOCK_STORE = "telehealth.lock_store.AtomicRedisLockStore"


def lock_store(url: str) -> Dict[str, Any]:
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise ConfigurationError(f"REDIS_URL must be redis://host:port/db, not {parts.scheme!r}")
    settings: Dict[str, Any] = {
        "type": LOCK_STORE, "url": parts.hostname or "localhost", "port": parts.port or 6379,
        "db": int((parts.path or "/0").lstrip("/") or 0), "key_prefix": "telehealth",
        "use_ssl": parts.scheme == "rediss",
    }
    if parts.password:
        settings["password"] = unquote(parts.password)
    return settings


def event_broker(url: str, queue: str) -> Dict[str, Any]:
    parts = urlsplit(url)
    if parts.scheme not in ("amqp", "amqps"):
        raise ConfigurationError(f"RABBITMQ_URL must be amqp://user:password@host:port, not {parts.scheme!r}")
    return {
        "type": "pika", "url": parts.hostname or "localhost", "port": parts.port or 5672,
        "username": unquote(parts.username or "guest"), "password": unquote(parts.password or "guest"),
        "queues": [queue],
    }


def endpoints(env: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    """The endpoints document for the profile ``env`` selects."""
    env = dict(os.environ if env is None else env)
    action_url = env.get("ACTION_SERVER_URL") or f"http://localhost:{env.get('ACTION_PORT', '5055')}/webhook"
    # Rasa sends its domain only to actions that ask for it: none of ours (actions/common.py).
    doc: Dict[str, Any] = {"action_endpoint": {"url": action_url, "enable_selective_domain": True}}
    if profile(env) == EMBEDDED:
        doc["tracker_store"] = {"type": TRACKER_STORE, "dialect": "sqlite", "db": EMBEDDED_TRACKER_DB}
        return doc
    doc["tracker_store"] = tracker_store(_require(env, "TRACKER_DB_URL", "DATABASE_URL"))
    doc["lock_store"] = lock_store(_require(env, "REDIS_URL"))
    doc["event_broker"] = event_broker(_require(env, "RABBITMQ_URL"), env.get("RASA_EVENTS_QUEUE") or DEFAULT_QUEUE)
    return doc


def write_endpoints(path: Path, env: Optional[Dict[str, str]] = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = (f"# GENERATED by `python -m telehealth.deploy endpoints` for the {profile(env)} profile "
              "(TELEHEALTH_PROFILE). Holds secrets: keep it out of git (var/ is ignored).\n")
    path.write_text(header + yaml.safe_dump(endpoints(env), sort_keys=False), encoding="utf-8")
    path.chmod(0o600)
    return path


WHATSAPP_KEYS = ("verify_token", "app_secret", "access_token", "phone_number_id", "api_url")


def write_credentials(path: Path, values: Dict[str, str], shard: Optional[int] = None, shards: int = 1) -> Path:
    """credentials.yml (the repository's channels) plus the WhatsApp channel with ``values``;
    for a worker behind the receiver also its ``internal_token``, ``shard_index`` and ``shard_count``."""
    block = {k: values[k] for k in WHATSAPP_KEYS}
    if shard is not None:
        block.update(internal_token=values["internal_token"], shard_index=int(shard), shard_count=int(shards))
    base = (ROOT / "credentials.yml").read_text(encoding="utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(base + "\n# Added by telehealth/deploy.py:\n"
                    + yaml.safe_dump({"telehealth.channels.whatsapp.WhatsAppInput": block}, sort_keys=False),
                    encoding="utf-8")
    path.chmod(0o600)
    return path


def credentials_from_env(path: Path, env: Optional[Dict[str, str]] = None) -> Path:
    """A worker's credentials from WHATSAPP_*, RECEIVER_INTERNAL_TOKEN, SHARD_INDEX, SHARD_COUNT."""
    env = dict(os.environ if env is None else env)
    values = {k: _require(env, f"WHATSAPP_{k.upper()}") for k in WHATSAPP_KEYS}
    if env.get("SHARD_COUNT"):
        values["internal_token"] = _require(env, "RECEIVER_INTERNAL_TOKEN")
        return write_credentials(path, values, int(_require(env, "SHARD_INDEX")), int(env["SHARD_COUNT"]))
    return write_credentials(path, values)


def main(argv: list) -> int:
    commands = {"endpoints": (write_endpoints, "endpoints.yml"), "credentials": (credentials_from_env, "credentials.yml")}
    if len(argv) < 2 or argv[1] not in commands:
        print("usage: python -m telehealth.deploy endpoints|credentials [path]")
        return 2
    write, default = commands[argv[1]]
    target = Path(argv[2]) if len(argv) > 2 else ROOT / "var" / default
    try:
        write(target)
    except ConfigurationError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {target} ({profile()} profile)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
