"""The WhatsApp channel end to end: signed webhooks into the real Rasa server (REST and WhatsApp
channels side by side), replies read at the local Cloud API stand-in, which validates every body
like Meta does."""
from __future__ import annotations

import itertools

import pytest
import requests

from telehealth.i18n import render
from tests.e2e.conftest import texts_of

pytestmark = pytest.mark.e2e
_ids = itertools.count()
WELCOME_AND_MENU = 2  # utter_welcome, utter_choose_language


def number() -> str:
    return f"92300{next(_ids):07d}"


def test_verification(bot):
    wa = bot.whatsapp
    ok = requests.get(wa.webhook, params={"hub.mode": "subscribe", "hub.verify_token": wa.VERIFY_TOKEN,
                                          "hub.challenge": "1158201444"}, timeout=10)
    assert (ok.status_code, ok.text) == (200, "1158201444")
    bad = requests.get(wa.webhook, params={"hub.mode": "subscribe", "hub.verify_token": "wrong",
                                           "hub.challenge": "x"}, timeout=10)
    assert bad.status_code == 403


def test_missing_or_wrong_signature_is_refused_and_nothing_is_processed(bot):
    wa, user = bot.whatsapp, number()
    payload = wa.envelope(user, {"type": "text", "text": {"body": "salam"}})
    assert wa.post(payload, signature=None).status_code == 401
    assert wa.post(payload, signature="sha256=" + "0" * 64).status_code == 403
    assert wa.post(payload, signature="valid").status_code == 200  # the same message, now signed
    sent = wa.wait_for(user, WELCOME_AND_MENU)
    assert len(sent) == WELCOME_AND_MENU, "the refused posts left no trace: one answer, to the signed one"


def test_a_greeting_gets_the_welcome_and_a_language_list_with_read_receipt(bot):
    wa, user = bot.whatsapp, number()
    wa.text(user, "salam", id="wamid.e2e.greeting")
    sent = wa.wait_for(user, WELCOME_AND_MENU)
    assert texts_of(sent)[0] == render("utter_welcome", "en")
    language_list = sent[1]["body"]["interactive"]
    assert language_list["type"] == "list"
    assert [r["id"] for r in language_list["action"]["sections"][0]["rows"]][2] == '/choose_language{"language":"ur-Latn"}'
    assert "wamid.e2e.greeting" in wa.receipts()


def test_a_list_reply_is_understood_from_its_id_not_its_title(bot):
    wa, user = bot.whatsapp, number()
    wa.tap(user, '/choose_language{"language":"ps"}', title="anything at all", kind="list_reply")
    sent = wa.wait_for(user, 2)
    assert texts_of(sent)[:2] == [render("utter_language_changed", "ps"), render("utter_main_menu", "ps")]


def test_a_webhook_replayed_three_times_is_answered_once(bot):
    wa, user = bot.whatsapp, number()
    payload = wa.envelope(user, {"type": "text", "text": {"body": "salam"}})
    for _ in range(3):
        assert wa.post(payload).status_code == 200
    wa.wait_for(user, WELCOME_AND_MENU)
    import time

    time.sleep(3)
    assert len(wa.sent(user)) == WELCOME_AND_MENU


def test_two_users_interleaved_keep_their_own_order(bot):
    wa = bot.whatsapp
    a, b = number(), number()
    for user in (a, b):
        wa.tap(user, '/choose_language{"language":"en"}')
    for user in (a, b):
        wa.tap(user, '/select_option{"menu":"main","option":"5"}')
    for user in (a, b):
        wa.text(user, "thank you")
    for user in (a, b):
        sent = texts_of(wa.wait_for(user, 4))
        assert sent == [render("utter_language_changed", "en"), render("utter_main_menu", "en"),
                        render("utter_faq/helplines", "en"), render("utter_thank", "en")], sent


def test_with_30_percent_of_sends_failing_every_reply_arrives_in_order(bot):
    wa, user = bot.whatsapp, number()
    wa.failures(0.3, mode="500", seed=7)
    try:
        wa.tap(user, '/choose_language{"language":"ur"}')
        wa.tap(user, '/select_option{"menu":"main","option":"5"}')
        wa.text(user, "shukriya")
        sent = texts_of(wa.wait_for(user, 4, timeout=90))
    finally:
        wa.failures(0.0)
    assert sent == [render("utter_language_changed", "ur"), render("utter_main_menu", "ur"),
                    render("utter_faq/helplines", "ur"), render("utter_thank", "ur")], sent


def test_rate_limit_errors_are_retried(bot):
    wa, user = bot.whatsapp, number()
    wa.failures(0.5, mode="130429", seed=3)
    try:
        wa.tap(user, '/choose_language{"language":"en"}')
        sent = texts_of(wa.wait_for(user, 2, timeout=90))
    finally:
        wa.failures(0.0)
    assert sent == [render("utter_language_changed", "en"), render("utter_main_menu", "en")]


def test_a_voice_note_gets_a_polite_answer_and_a_doctor_offer_in_the_users_language(bot):
    wa, user = bot.whatsapp, number()
    wa.tap(user, '/choose_language{"language":"sd"}')
    wa.wait_for(user, 2)
    wa.post(wa.envelope(user, {"type": "audio", "audio": {"id": "media1", "mime_type": "audio/ogg; codecs=opus", "voice": True}}))
    sent = wa.wait_for(user, 3)
    assert texts_of(sent)[2] == render("utter_voice_note", "sd")
    assert [b["reply"]["id"] for b in sent[2]["body"]["interactive"]["action"]["buttons"]][0] == "/request_doctor"


def test_media_location_and_unsupported_messages(bot):
    wa, user = bot.whatsapp, number()
    wa.tap(user, '/choose_language{"language":"ur"}')
    wa.wait_for(user, 2)
    wa.post(wa.envelope(user, {"type": "image", "image": {"id": "m2", "mime_type": "image/jpeg"}}))
    wa.wait_for(user, 3)
    wa.post(wa.envelope(user, {"type": "location", "location": {"latitude": 33.6844, "longitude": 73.0479}}))
    wa.wait_for(user, 4)
    wa.post(wa.envelope(user, {"type": "unsupported", "errors": [{"code": 131051}]}))
    wa.post(wa.envelope(user, {"type": "reaction", "reaction": {"message_id": "x", "emoji": "👍"}}))
    sent = texts_of(wa.wait_for(user, 5))
    import time

    time.sleep(2)
    sent = texts_of(wa.sent(user))
    assert sent[2:5] == [render("utter_media_received", "ur"), render("utter_location_received", "ur"),
                         render("utter_bad_input", "ur")]
    # The two-stage fallback may add the menu; the reaction adds nothing.
    assert set(sent[5:]) <= {render("utter_main_menu", "ur")} and len(sent) <= 6, sent
    slots = bot.slots(user)
    assert (slots["latitude"], slots["longitude"]) == (33.6844, 73.0479)


def test_delivery_statuses_are_recorded_against_the_outgoing_message(bot):
    from telehealth import db

    wa, user = bot.whatsapp, number()
    wa.tap(user, '/choose_language{"language":"en"}')
    first = wa.wait_for(user, 2)[0]["id"]
    status = {"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"phone_number_id": wa.PHONE_NUMBER_ID},
        "statuses": [{"id": first, "status": "read", "timestamp": "1", "recipient_id": user},
                     {"id": first, "status": "delivered", "timestamp": "0", "recipient_id": user}]}}]}]}
    assert wa.post(status).status_code == 200
    with db.session_scope(bot.database_url) as session:
        row = session.query(db.WhatsAppOutbox).filter_by(wamid=first).one()
    assert row.delivery == "read", "a late 'delivered' does not undo 'read'"
    assert row.payload is None, "a sent message's body (with the number) is not kept"


def test_the_sandbox_chat_page_talks_to_the_real_connector_and_reports_ticks(bot):
    """What the chat page does (its API), as a user on a phone-sized browser would drive it."""
    from telehealth import db

    wa, user = bot.whatsapp, number()
    page = requests.get(f"{wa.standin}/", timeout=10)
    assert page.status_code == 200 and "WhatsApp sandbox" in page.text and 'name="viewport"' in page.text
    sent_user = requests.post(f"{wa.standin}/_sandbox/send", json={"wa_id": user, "name": "Ali", "type": "text",
                                                                    "text": "assalam o alaikum"}, timeout=30).json()
    assert sent_user["webhook_status"] == 200
    replies = wa.wait_for(user, WELCOME_AND_MENU)
    rows = replies[1]["body"]["interactive"]["action"]["sections"][0]["rows"]
    tap = requests.post(f"{wa.standin}/_sandbox/send", json={"wa_id": user, "type": "list_reply", "id": rows[1]["id"],
                                                               "title": rows[1]["title"]}, timeout=30).json()
    assert tap["webhook_status"] == 200
    assert texts_of(wa.wait_for(user, 4))[2] == render("utter_language_changed", "ur")
    ids = [m["id"] for m in wa.sent(user)]
    requests.post(f"{wa.standin}/_sandbox/shown", json={"ids": ids}, timeout=10)
    import time

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with db.session_scope(bot.database_url) as session:
            states = {r.wamid: r.delivery for r in session.query(db.WhatsAppOutbox).filter(db.WhatsAppOutbox.wamid.in_(ids))}
        if states and all(v == "read" for v in states.values()):
            break
        time.sleep(0.3)
    assert set(states.values()) == {"read"}, states
    assert sent_user["id"] in wa.receipts(), "the connector marked the user's message read"
