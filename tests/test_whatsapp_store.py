"""Durable WhatsApp traffic (telehealth/whatsapp/store.py) and the sender's retry rules."""
from __future__ import annotations

import pytest

from telehealth import db
from telehealth.channels.whatsapp import WhatsAppInput, rasa_text
from telehealth.whatsapp import store
from telehealth.whatsapp.cloud_api import Inbound, template_body, text_body
from telehealth.whatsapp.sender import BACKOFF_MAX_S, backoff
from tests.test_db import database_url  # noqa: F401  (the sqlite/postgresql fixture)


@pytest.fixture
def url(database_url, monkeypatch):  # noqa: F811  (SQLite and PostgreSQL)
    from telehealth import privacy

    monkeypatch.setenv("PATIENT_ID_KEY", "k")
    monkeypatch.setenv("DATA_ENCRYPTION_KEY", "kWh8Qw3v0j7m4YV1zC0pG1o1y3m0f5m4r7n2k9d6s8A=")
    privacy._key.cache_clear()
    privacy._fernet.cache_clear()
    yield database_url
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


def test_a_notification_that_meets_a_closed_window_is_replaced_by_its_template_once(url):
    template = template_body("9235", "consult_no_answer", "ur", [])
    first, second = store.enqueue("9235", [text_body("9235", "Doctor tried"), text_body("9235", "menu")], url,
                                  fallback=template)
    store.mark_sent(first, "wamid.f1", url)
    with db.session_scope(url) as session:
        assert "consult_no_answer" not in session.get(db.WhatsAppOutbox, first).fallback  # encrypted
    assert store.record_status("wamid.f1", "failed", "131047 Re-engagement message", url=url, window_closed=True)
    assert store.record_status("wamid.f1", "failed", "131047 Re-engagement message", url=url, window_closed=True)  # replayed
    bodies = [o.body for o in store.due(url=url, chain=5)]
    assert bodies == [text_body("9235", "menu"), template], "the template follows, once"
    # A message that was delivered has no fallback left; a later failure of it sends nothing.
    (other,) = store.enqueue("9236", [text_body("9236", "x")], url, fallback=template_body("9236", "consult_feedback", "ur", []))
    store.mark_sent(other, "wamid.f2", url)
    store.record_status("wamid.f2", "delivered", url=url)
    store.record_status("wamid.f2", "failed", "131047 Re-engagement message", url=url, window_closed=True)
    assert [o.body for o in store.due(url=url, chain=5) if o.body["to"] == "9236"] == []


def test_meta_s_131047_status_webhook_sends_the_fallback_template(url, monkeypatch):
    import asyncio
    import json

    from telehealth.whatsapp.cloud_api import sign
    from telehealth.whatsapp.webhook import accept

    monkeypatch.setenv("DATABASE_URL", url)
    (oid,) = store.enqueue("9237", [text_body("9237", "Dr. Ayesha will call you")], url,
                           fallback=template_body("9237", "consult_accepted", "ur", ["Ayesha", "1", "voice", "+92 300"]))
    store.mark_sent(oid, "wamid.f3", url)
    status = {"id": "wamid.f3", "status": "failed", "timestamp": "1", "recipient_id": "9237", "errors": [
        {"code": 131047, "title": "Re-engagement message", "message": "Re-engagement message"}]}
    body = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "W", "changes": [
        {"field": "messages", "value": {"messaging_product": "whatsapp", "statuses": [status]}}]}]}).encode()
    assert asyncio.run(accept(body, sign(body, "secret"), "secret")).status == 200
    [due] = store.due(url=url)
    assert due.body["type"] == "template" and due.body["template"]["name"] == "consult_accepted"
    with db.session_scope(url) as session:
        assert session.get(db.WhatsAppOutbox, oid).last_error == "131047 Re-engagement message"


def test_webhooks_arriving_together_share_a_transaction_and_replays_among_them_count_once(url, monkeypatch):
    """Group commit (webhook.Recorder): 60 webhooks at once are stored in a few transactions, not
    60; the same message replayed three times inside one batch is new once; a status in the
    batch is recorded; every webhook is answered with its own new messages only; a restart
    finds the unprocessed ones in arrival order."""
    import asyncio
    import json
    from concurrent.futures import ThreadPoolExecutor

    from telehealth.whatsapp.cloud_api import sign
    from telehealth.whatsapp.webhook import Recorder, accept

    (oid,) = store.enqueue("9240", [text_body("9240", "hello")], url)
    store.mark_sent(oid, "wamid.g-out", url)
    transactions = []
    real = store.record_webhooks
    monkeypatch.setattr(store, "record_webhooks", lambda *a: transactions.append(len(a[0])) or real(*a))

    def webhook(value):
        body = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "W", "changes": [
            {"field": "messages", "value": {"messaging_product": "whatsapp", **value}}]}]}).encode()
        return body, sign(body, "secret")

    def text(i):
        return webhook({"contacts": [{"wa_id": f"924{i % 3}", "profile": {"name": "x"}}], "messages": [
            {"from": f"924{i % 3}", "id": f"wamid.g{i}", "timestamp": "1", "type": "text", "text": {"body": f"m{i}"}}]})

    bodies = [text(i) for i in range(57)] + [text(7), text(7)] + [webhook({"statuses": [
        {"id": "wamid.g-out", "status": "delivered", "timestamp": "1", "recipient_id": "9240"}]})]

    async def main():
        recorder = Recorder(ThreadPoolExecutor(2), url)
        return await asyncio.gather(*(accept(body, sig, "secret", recorder) for body, sig in bodies))

    answers = asyncio.run(main())
    assert all(a.status == 200 for a in answers)
    assert [m.message_id for a in answers for m in a.new_messages] == [f"wamid.g{i}" for i in range(57)]
    assert sum(transactions) == 59 and len(transactions) < 10, transactions
    with db.session_scope(url) as session:
        assert session.get(db.WhatsAppOutbox, oid).delivery == "delivered"
    assert [p["text"] for p in store.unprocessed(url)] == [f"m{i}" for i in range(57)]


def test_the_senders_poll_reads_an_index_of_pending_messages_only(url):
    """Migration 0006: the outbox keeps a partial index of its pending rows (the senders poll
    it under load; the index on ``state`` made each poll visit every row ever pending)."""
    import sqlalchemy as sa

    store.enqueue("9241", [text_body("9241", "a")], url)
    [index] = [ix for ix in sa.inspect(db.get_engine(url)).get_indexes("whatsapp_outbox")
               if ix["name"] == "ix_whatsapp_outbox_pending"]
    assert index["column_names"] == ["patient_ref", "id"]
    assert [o.body["to"] for o in store.due(url=url)] == ["9241"]


def test_a_stored_message_of_another_version_does_not_stop_the_start(url):
    """Messages left unprocessed are read back at start (receiver and channel): a field added
    since is ignored; a row missing a required field is skipped, not fatal."""
    good = {"message_id": "wamid.v1", "wa_id": "9242", "timestamp": 1, "kind": "text", "text": "salam", "new_field": 1}
    store.record_inbound("wamid.v1", "9242", good, url)
    store.record_inbound("wamid.v2", "9242", {"message_id": "wamid.v2", "text": "no wa_id"}, url)
    read = [Inbound.from_stored(p) for p in store.unprocessed(url)]
    assert read[0] == Inbound("wamid.v1", "9242", 1, "text", "salam") and read[1] is None


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


def test_a_taken_message_is_not_given_to_another_sender_until_its_lease_runs_out(url):
    from datetime import datetime, timedelta, timezone

    store.enqueue("9235", [text_body("9235", "c1"), text_body("9235", "c2")], url)
    now = datetime.now(timezone.utc)
    first = store.due(url=url, now=now)
    assert [o.body["text"]["body"] for o in first] == ["c1"]
    assert store.due(url=url, now=now + timedelta(seconds=1)) == []        # another sender: nothing
    # The first sender died without settling it: after the lease another sender takes it, c1 still first.
    later = store.due(url=url, now=now + store.CLAIM_LEASE + timedelta(seconds=1))
    assert [o.body["text"]["body"] for o in later] == ["c1"]
    store.mark_sent(later[0].id, "wamid.c1", url)
    assert [o.body["text"]["body"] for o in store.due(url=url)] == ["c2"]


@pytest.mark.parametrize("chain", [1, 3])
def test_senders_in_parallel_never_take_the_same_message(database_url, monkeypatch, chain):
    """Four senders poll one outbox at once (threads here; processes in production): every message
    is taken exactly once, and each recipient's messages in order."""
    import threading

    from telehealth import privacy

    monkeypatch.setenv("PATIENT_ID_KEY", "k")
    monkeypatch.setenv("DATA_ENCRYPTION_KEY", "kWh8Qw3v0j7m4YV1zC0pG1o1y3m0f5m4r7n2k9d6s8A=")
    privacy._key.cache_clear()
    privacy._fernet.cache_clear()
    users = [f"92399{i:07d}" for i in range(20)]
    for u in users:
        store.enqueue(u, [text_body(u, f"{u}-{n}") for n in range(3)], database_url)
    taken, lock, errors = [], threading.Lock(), []

    def sender():
        try:
            for _ in range(40):
                batch = store.due(50, database_url, chain=chain)
                for item in batch:
                    with lock:
                        taken.append(item.body["text"]["body"])
                    store.mark_sent(item.id, f"wamid.{item.id}", database_url)
        except Exception as exc:  # SQLite may refuse a concurrent writer: the sender retries later
            errors.append(type(exc).__name__)

    threads = [threading.Thread(target=sender) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    while store.pending_count(database_url):   # what a refused writer left is taken up on the next poll
        for item in store.due(50, database_url, chain=chain):
            taken.append(item.body["text"]["body"])
            store.mark_sent(item.id, f"wamid.{item.id}", database_url)
    assert sorted(taken) == sorted(f"{u}-{n}" for u in users for n in range(3)), "each message exactly once"
    for u in users:
        assert [t for t in taken if t.startswith(u)] == [f"{u}-{n}" for n in range(3)]
    if database_url.startswith("postgresql"):
        assert errors == []
    privacy._key.cache_clear()
    privacy._fernet.cache_clear()


def test_a_chain_gives_a_recipient_s_messages_in_order_and_a_retry_holds_the_rest(url):
    store.enqueue("9236", [text_body("9236", f"d{n}") for n in range(4)], url)
    store.enqueue("9237", [text_body("9237", "e0")], url)
    taken = store.due(url=url, chain=3)
    assert [o.body["text"]["body"] for o in taken] == ["d0", "d1", "d2", "e0"]
    assert store.due(url=url, chain=3) == []          # all claimed: another sender gets nothing
    store.mark_sent(taken[0].id, "wamid.d0", url)
    store.mark_retry(taken[1].id, 60, "500 1 unknown", url)   # d1 must go again before d2
    store.release([taken[2].id], url)
    store.mark_sent(taken[3].id, "wamid.e0", url)
    assert store.due(url=url, chain=3) == []          # d1 waits for its retry; d2 and d3 behind it
    from datetime import datetime, timedelta, timezone
    later = store.due(url=url, now=datetime.now(timezone.utc) + timedelta(seconds=61), chain=3)
    assert [o.body["text"]["body"] for o in later] == ["d1", "d2", "d3"]


def test_a_turn_s_replies_and_its_processed_mark_commit_together(url):
    store.record_inbound("wamid.turn", "9238", {"text": "salam"}, url)
    store.finish_turn("wamid.turn", "9238", [text_body("9238", "welcome"), text_body("9238", "menu")], url)
    assert store.is_processed("wamid.turn", url)
    assert [o.body["text"]["body"] for o in store.due(url=url, chain=5)] == ["welcome", "menu"]


def test_statuses_in_every_order_end_at_the_furthest_and_a_failure_is_kept(url):
    import itertools

    for n, order in enumerate(itertools.permutations(["sent", "delivered", "read"])):
        (oid,) = store.enqueue("9239", [text_body("9239", f"s{n}")], url)
        store.mark_sent(oid, f"wamid.s{n}", url)
        assert all(store.record_status(f"wamid.s{n}", status, url=url) for status in order)
        with db.session_scope(url) as session:
            assert session.get(db.WhatsAppOutbox, oid).delivery == "read", order
    (oid,) = store.enqueue("9239", [text_body("9239", "f")], url)
    store.mark_sent(oid, "wamid.f", url)
    store.record_status("wamid.f", "failed", "131026 Message undeliverable", url)
    with db.session_scope(url) as session:
        row = session.get(db.WhatsAppOutbox, oid)
        assert (row.delivery, row.last_error) == ("failed", "131026 Message undeliverable")
