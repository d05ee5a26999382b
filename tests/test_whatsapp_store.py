"""Durable WhatsApp traffic (telehealth/whatsapp/store.py) and the sender's retry rules."""
from __future__ import annotations

import pytest

from telehealth import db
from telehealth.channels.whatsapp import WhatsAppInput, rasa_text
from telehealth.whatsapp import store
from telehealth.whatsapp.cloud_api import Inbound, text_body
from telehealth.whatsapp.sender import BACKOFF_MAX_S, backoff


@pytest.fixture
def url(tmp_path, monkeypatch):
    from telehealth import privacy

    monkeypatch.setenv("PATIENT_ID_KEY", "k")
    monkeypatch.setenv("DATA_ENCRYPTION_KEY", "kWh8Qw3v0j7m4YV1zC0pG1o1y3m0f5m4r7n2k9d6s8A=")
    privacy._key.cache_clear()
    privacy._fernet.cache_clear()
    yield f"sqlite:///{tmp_path / 'app.db'}"
    privacy._key.cache_clear()
    privacy._fernet.cache_clear()


def test_a_message_id_is_recorded_once_even_after_a_restart(url):
    assert store.record_inbound("wamid.1", "923001234567", {"text": "salam"}, url)
    assert not store.record_inbound("wamid.1", "923001234567", {"text": "salam"}, url)
    db._engines.pop(url).dispose()  # a new process: a new engine, the same database
    db._upgraded.discard(url)
    assert not store.record_inbound("wamid.1", "923001234567", {"text": "salam"}, url)


def test_unprocessed_messages_survive_and_are_encrypted(url):
    store.record_inbound("wamid.2", "923001234567", {"text": "mujhe bukhar hai"}, url)
    with db.session_scope(url) as session:
        row = session.get(db.WhatsAppInbound, "wamid.2")
    assert "bukhar" not in row.payload and "923001234567" not in row.payload and "923001234567" not in row.patient_ref
    assert store.unprocessed(url) == [{"text": "mujhe bukhar hai"}]
    store.mark_processed("wamid.2", url)
    assert store.unprocessed(url) == []


def test_outbox_gives_one_message_per_user_in_order(url):
    store.enqueue("9231", [text_body("9231", "a1"), text_body("9231", "a2")], url)
    store.enqueue("9232", [text_body("9232", "b1")], url)
    first = store.due(url=url)
    assert [o.body["text"]["body"] for o in first] == ["a1", "b1"]
    store.mark_retry(first[0].id, 60, "500 1 unknown", url)   # a1 waits: a2 must wait behind it
    store.mark_sent(first[1].id, "wamid.b1", url)
    assert store.due(url=url) == []
    assert store.pending_count(url) == 2


def test_permanent_failures_are_recorded_and_the_next_message_goes(url):
    ids = store.enqueue("9233", [text_body("9233", "x"), text_body("9233", "y")], url)
    store.mark_failed(ids[0], "400 131026 undeliverable", url)
    assert [o.body["text"]["body"] for o in store.due(url=url)] == ["y"]
    with db.session_scope(url) as session:
        row = session.get(db.WhatsAppOutbox, ids[0])
    assert (row.state, row.payload) == ("failed", None)


def test_statuses_out_of_order(url):
    (oid,) = store.enqueue("9234", [text_body("9234", "z")], url)
    store.mark_sent(oid, "wamid.z", url)
    assert store.record_status("wamid.z", "read", url=url)
    assert store.record_status("wamid.z", "delivered", url=url)
    assert not store.record_status("wamid.unknown", "read", url=url)
    with db.session_scope(url) as session:
        assert session.get(db.WhatsAppOutbox, oid).delivery == "read"


def test_backoff_grows_and_is_capped():
    assert backoff(0) <= 0.5 < backoff(6) <= BACKOFF_MAX_S
    assert backoff(30) <= BACKOFF_MAX_S


def test_missing_credentials_are_named():
    with pytest.raises(ValueError, match="app_secret"):
        WhatsAppInput.from_credentials({"verify_token": "v", "access_token": "a", "phone_number_id": "1",
                                        "api_url": "http://x"})


@pytest.mark.parametrize("kind, text, expected", [
    ("text", "salam", "salam"), ("button", "/affirm", "/affirm"), ("list", "/x", "/x"),
    ("template_button", "/request_doctor", "/request_doctor"), ("voice", None, "/voice_note"),
    ("audio", None, "/voice_note"), ("image", None, "/media_message"), ("sticker", None, "/media_message"),
    ("location", None, ""), ("unsupported", None, ""), ("reaction", None, None),
])
def test_what_the_conversation_receives(kind, text, expected):
    assert rasa_text(Inbound("w", "923", 0, kind, text)) == expected


def test_a_location_becomes_a_payload_with_its_coordinates():
    message = Inbound("w", "923", 0, "location", location={"latitude": 33.6844, "longitude": 73.0479})
    assert rasa_text(message) == '/share_location{"latitude":33.6844,"longitude":73.0479}'
