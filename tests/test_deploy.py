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
    assert doc["tracker_store"] == {"type": "SQL", "dialect": "postgresql", "url": "db", "port": 5433, "db": "tracker",
                                    "username": "rasa", "password": "s@cret"}
    assert doc["lock_store"]["url"] == "cache" and doc["lock_store"]["db"] == 2 and doc["lock_store"]["password"] == "pw"
    assert doc["event_broker"] == {"type": "pika", "url": "mq", "port": 5673, "username": "bot", "password": "pw",
                                   "queues": ["rasa_events"]}
