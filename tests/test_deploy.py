"""Deployment profiles (telehealth/deploy.py): the endpoints Rasa gets from the environment.
The production profile against the real services: tests/e2e/test_production_profile.py."""
import pytest

from telehealth import deploy


def test_the_embedded_profile_is_the_default_and_bad_settings_are_named():
    assert deploy.profile({}) == "embedded"
    assert deploy.endpoints({})["tracker_store"]["dialect"] == "sqlite"
    with pytest.raises(deploy.ConfigurationError, match="REDIS_URL"):
        deploy.endpoints({"TELEHEALTH_PROFILE": "production", "TRACKER_DB_URL": "postgresql://u@h/db"})
    with pytest.raises(deploy.ConfigurationError, match="PostgreSQL"):
        deploy.endpoints({"TELEHEALTH_PROFILE": "production", "TRACKER_DB_URL": "sqlite:///x.db",
                          "REDIS_URL": "redis://h:6379/0", "RABBITMQ_URL": "amqp://h"})
    doc = deploy.endpoints({"TELEHEALTH_PROFILE": "production", "TRACKER_DB_URL": "postgresql+psycopg2://rasa:s%40cret@db:5433/tracker",
                            "REDIS_URL": "redis://:pw@cache:6380/2", "RABBITMQ_URL": "amqp://bot:pw@mq:5673"})
    assert doc["tracker_store"] == {"type": deploy.TRACKER_STORE, "dialect": "postgresql", "url": "db", "port": 5433, "db": "tracker",
                                    "username": "rasa", "password": "s@cret"}
    assert doc["lock_store"]["url"] == "cache" and doc["lock_store"]["db"] == 2 and doc["lock_store"]["password"] == "pw"
    assert doc["event_broker"] == {"type": "pika", "url": "mq", "port": 5673, "username": "bot", "password": "pw",
                                   "queues": ["rasa_events"]}


def test_worker_credentials_from_the_environment(tmp_path):
    import yaml

    env = {"WHATSAPP_VERIFY_TOKEN": "v", "WHATSAPP_APP_SECRET": "s", "WHATSAPP_ACCESS_TOKEN": "t",
           "WHATSAPP_PHONE_NUMBER_ID": "1", "WHATSAPP_API_URL": "https://graph.facebook.com/v21.0",
           "RECEIVER_INTERNAL_TOKEN": "i", "SHARD_INDEX": "2", "SHARD_COUNT": "3"}
    doc = yaml.safe_load(deploy.credentials_from_env(tmp_path / "c.yml", env).read_text())
    channel = doc["telehealth.channels.whatsapp.WhatsAppInput"]
    assert (channel["shard_index"], channel["shard_count"], channel["internal_token"]) == (2, 3, "i")
    assert "rest" in doc
    with pytest.raises(deploy.ConfigurationError, match="WHATSAPP_APP_SECRET"):
        deploy.credentials_from_env(tmp_path / "d.yml", {k: v for k, v in env.items() if k != "WHATSAPP_APP_SECRET"})


def test_kubernetes_manifests_agree_with_the_code():
    """deploy/k8s cannot be applied here (no cluster): check they parse, that every setting they
    give is one the code reads, and that worker counts and ports agree."""
    import re
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parent.parent
    docs = [d for p in sorted((root / "deploy" / "k8s").glob("*.yaml"))
            for d in yaml.safe_load_all(p.read_text(encoding="utf-8")) if d]
    by_kind = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    code = "\n".join(p.read_text(encoding="utf-8") for p in (root / "telehealth").rglob("*.py"))
    config = by_kind[("ConfigMap", "telehealth")]["data"]
    unread = [k for k in config if f'"{k}"' not in code and f"'{k}'" not in code]
    assert unread == [], f"settings no code reads: {unread}"
    workers = by_kind[("StatefulSet", "rasa-worker")]
    receiver = by_kind[("Deployment", "receiver")]["spec"]["template"]["spec"]["containers"][0]["command"]
    urls = receiver[receiver.index("--workers") + 1].split(",")
    assert len(urls) == workers["spec"]["replicas"] == int(config["SHARD_COUNT"])
    assert urls == [f"http://rasa-worker-{i}.rasa-worker:5005" for i in range(len(urls))]
    for kind, name in by_kind:
        if kind == "Service":
            port = by_kind[(kind, name)]["spec"]["ports"][0]["targetPort"]
            owners = [d for (k, n), d in by_kind.items() if k in ("Deployment", "StatefulSet") and n == name]
            assert owners and owners[0]["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] == port
    assert re.search(r"http://actions:5055/webhook", config["ACTION_SERVER_URL"])
