"""The Cloud API as data (telehealth/whatsapp/cloud_api.py): signatures, envelopes, bodies, limits."""
from __future__ import annotations

import json

import pytest

from telehealth.i18n import LOCALES, catalogs
from telehealth.whatsapp import cloud_api as api

SECRET = "app-secret"


def envelope(*values):
    return {"object": "whatsapp_business_account",
            "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": v} for v in values]}]}


def value(messages=(), statuses=(), wa_id="923001234567"):
    return {"messaging_product": "whatsapp", "metadata": {"display_phone_number": "15550000000", "phone_number_id": "PNID"},
            "contacts": [{"profile": {"name": "Amina"}, "wa_id": wa_id}],
            "messages": list(messages), "statuses": list(statuses)}


def msg(mid, kind, wa_id="923001234567", **content):
    return {"from": wa_id, "id": mid, "timestamp": "1700000000", "type": kind, **content}


# --- signatures -----------------------------------------------------------------------------

def test_signature_is_checked_on_the_raw_body():
    body = json.dumps(envelope(value([msg("wamid.1", "text", text={"body": "salam"})]))).encode()
    header = api.sign(body, SECRET)
    assert api.signature_valid(body, header, SECRET)
    assert not api.signature_valid(body + b" ", header, SECRET), "re-serialised or tampered bodies fail"
    assert not api.signature_valid(body, header, "other-secret")
    assert not api.signature_valid(body, None, SECRET)
    assert not api.signature_valid(body, "sha256=00", SECRET)
    assert not api.signature_valid(body, header, ""), "no secret configured: nothing is valid"


# --- incoming -------------------------------------------------------------------------------

def test_every_entry_change_message_and_status_is_read():
    env = envelope(
        value([msg("w1", "text", text={"body": "mujhe bukhar hai"}),
               msg("w2", "interactive", interactive={"type": "button_reply", "button_reply": {"id": "/affirm", "title": "Haan"}})]),
        value([msg("w3", "interactive", wa_id="923119999999",
                   interactive={"type": "list_reply", "list_reply": {"id": '/choose_language{"language":"ps"}', "title": "پښتو"}})],
              statuses=[{"id": "out1", "status": "delivered", "timestamp": "1700000001", "recipient_id": "923001234567"},
                        {"id": "out2", "status": "failed", "timestamp": "1700000002",
                         "errors": [{"code": 131047, "title": "Re-engagement message"}]}]),
    )
    env["entry"].append({"id": "WABA2", "changes": [{"field": "messages", "value": value(
        [msg("w4", "button", button={"payload": "/request_doctor", "text": "Doctor"})])}]})
    parsed = api.parse_envelope(env)
    assert [(m.message_id, m.kind, m.text) for m in parsed.messages] == [
        ("w1", "text", "mujhe bukhar hai"), ("w2", "button", "/affirm"),
        ("w3", "list", '/choose_language{"language":"ps"}'), ("w4", "template_button", "/request_doctor"),
    ]
    assert parsed.messages[0].profile_name == "Amina" and parsed.messages[0].phone_number_id == "PNID"
    assert [(s.message_id, s.status) for s in parsed.statuses] == [("out1", "delivered"), ("out2", "failed")]
    assert parsed.statuses[1].errors[0]["code"] == 131047


@pytest.mark.parametrize(
    "message, kind",
    [
        (msg("a", "audio", audio={"id": "m1", "mime_type": "audio/ogg; codecs=opus", "voice": True}), "voice"),
        (msg("b", "audio", audio={"id": "m2", "mime_type": "audio/mpeg"}), "audio"),
        (msg("c", "image", image={"id": "m3"}), "image"),
        (msg("d", "document", document={"id": "m4"}), "document"),
        (msg("e", "sticker", sticker={"id": "m5"}), "sticker"),
        (msg("f", "video", video={"id": "m6"}), "video"),
        (msg("g", "reaction", reaction={"message_id": "x", "emoji": "👍"}), "reaction"),
        (msg("h", "unsupported", errors=[{"code": 131051}]), "unsupported"),
        (msg("i", "ephemeral"), "unsupported"),
        (msg("j", "interactive", interactive={"type": "nfm_reply"}), "unsupported"),
    ],
)
def test_message_types(message, kind):
    (parsed,) = api.parse_envelope(envelope(value([message]))).messages
    assert parsed.kind == kind
    assert parsed.text is None


def test_location_is_kept():
    (parsed,) = api.parse_envelope(envelope(value([msg("l", "location", location={
        "latitude": 33.6844, "longitude": 73.0479, "name": "PIMS", "address": "Islamabad"})]))).messages
    assert parsed.location == {"latitude": 33.6844, "longitude": 73.0479, "name": "PIMS", "address": "Islamabad"}


@pytest.mark.parametrize("payload", [None, [], "x", {"entry": "x"}, {"entry": [{"changes": [None, {"value": "x"}]}]},
                                     {"entry": [{"changes": [{"value": {"messages": [{"type": "text"}, None, 3]}}]}]}])
def test_malformed_envelopes_give_nothing_and_raise_nothing(payload):
    parsed = api.parse_envelope(payload)
    assert parsed.messages == [] and parsed.statuses == []


# --- outgoing -------------------------------------------------------------------------------

def test_short_text_is_one_message():
    assert api.split_text("Salam.") == ["Salam."]


def test_long_text_is_split_at_sentence_ends():
    sentence = "Stay at home and rest. "
    text = sentence * 400  # about 9,200 characters
    parts = api.split_text(text)
    assert len(parts) == 3 and all(len(p) <= api.TEXT_MAX for p in parts)
    assert all(p.endswith(".") for p in parts), "no cut in the middle of a sentence"
    assert " ".join(parts).split() == text.split(), "nothing lost"


def test_urdu_sentence_ends_and_a_single_huge_word():
    text = ("گھر پر رہیں۔ " * 500) + "x" * 5000
    parts = api.split_text(text)
    assert all(len(p) <= api.TEXT_MAX for p in parts)
    assert "".join(parts).replace(" ", "") == text.replace(" ", "")


def test_buttons_become_reply_buttons_or_a_list():
    three = [{"title": "Yes", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}, {"title": "Not sure", "payload": "/x"}]
    (body,) = api.message_bodies("92300", {"text": "Fever?", "buttons": three})
    assert body["interactive"]["type"] == "button"
    assert [b["reply"]["id"] for b in body["interactive"]["action"]["buttons"]] == ["/affirm", "/deny", "/x"]
    five = three + [{"title": "A", "payload": "/a"}, {"title": "B", "payload": "/b"}]
    (body,) = api.message_bodies("92300", {"text": "Menu", "buttons": five}, list_label="Menu")
    assert body["interactive"]["type"] == "list"
    assert [r["id"] for r in body["interactive"]["action"]["sections"][0]["rows"]] == ["/affirm", "/deny", "/x", "/a", "/b"]


def test_an_image_carries_a_short_text_as_its_caption_and_comes_before_longer_text_and_buttons():
    link = "https://www.who.int/images/default-source/health-topics/coronavirus/masks.jpg"
    (body,) = api.message_bodies("92300", {"text": "How to wear a mask", "image": link})
    assert body["type"] == "image" and body["image"] == {"link": link, "caption": "How to wear a mask"}
    (alone,) = api.message_bodies("92300", {"image": link})
    assert alone["image"] == {"link": link}
    buttons = [{"title": "Menu", "payload": "/help"}]
    image, text = api.message_bodies("92300", {"text": "Wear it over nose and mouth.", "image": link, "buttons": buttons})
    assert image["image"] == {"link": link} and text["interactive"]["action"]["buttons"][0]["reply"]["id"] == "/help"
    long = "Wash your hands. " * 100
    bodies = api.message_bodies("92300", {"text": long, "image": link})
    assert bodies[0]["image"] == {"link": link} and "".join(b["text"]["body"] for b in bodies[1:]).startswith("Wash")
    assert all(api.validate_body(b) is None for b in bodies + [body, alone, image, text])


def test_every_response_in_every_locale_is_a_body_meta_accepts():
    """What the bot can say is sendable on WhatsApp: buttons, lists, lengths, in all eight locales."""
    problems = []
    for locale in LOCALES:
        for key, variants in catalogs()[locale].responses.items():
            for variant in variants:
                for body in api.message_bodies("923001234567", variant, list_label="Menu"):
                    error = api.validate_body(body)
                    if error:
                        problems.append(f"{locale} {key}: {error['error']['error_data']['details']}")
    assert not problems, problems


@pytest.mark.parametrize(
    "body, details",
    [
        (api.text_body("1", "x" * 4097), "longer than 4096"),
        (api.text_body("1", ""), "text.body is required"),
        ({**api.text_body("1", "hi"), "unexpected": 1}, "Unexpected key"),
        (api.buttons_body("1", "b", [{"title": f"t{i}", "payload": f"/p{i}"} for i in range(3)]) | {}, None),
        ({"messaging_product": "whatsapp", "to": "1", "type": "interactive", "interactive": {
            "type": "button", "body": {"text": "b"}, "action": {"buttons": [
                {"type": "reply", "reply": {"id": f"/p{i}", "title": "t"}} for i in range(4)]}}}, "Buttons count"),
        (api.buttons_body("1", "b", [{"title": "A title that is far too long", "payload": "/p"}]), "Button title"),
        (api.buttons_body("1", "b", [{"title": "t", "payload": "/p"}] * 2), "unique"),
        (api.buttons_body("1", "b", [{"title": f"t{i}", "payload": f"/p{i}"} for i in range(12)]), None),
        ({"messaging_product": "whatsapp", "to": "1", "type": "interactive", "interactive": {
            "type": "list", "body": {"text": "b"}, "action": {"button": "Menu", "sections": [
                {"rows": [{"id": f"/p{i}", "title": "t"} for i in range(11)]}]}}}, "row count"),
        (api.read_receipt_body("wamid.1"), None),
        (api.image_body("1", "https://example.org/a.png", "c" * 1025), "caption is longer than 1024"),
        (api.image_body("1", "ftp://example.org/a.png"), "not a valid http(s) URL"),
        ({**api.image_body("1", "https://example.org/a.png"), "image": {"link": "https://example.org/a.png", "id": "9"}},
         "exactly one of id or link"),
        ({**api.image_body("1", "https://example.org/a.png"), "image": {"url": "https://example.org/a.png"}}, "Unexpected key"),
        ({"messaging_product": "whatsapp", "to": "1", "type": "audio", "audio": {"id": "9", "caption": "x"}}, "Unexpected key"),
        ({"messaging_product": "whatsapp", "to": "1", "type": "document",
          "document": {"id": "9", "filename": "advice.pdf", "caption": "Advice"}}, None),
    ],
)
def test_meta_rules(body, details):
    error = api.validate_body(body)
    if details is None:
        assert error is None
    else:
        assert error and details in error["error"]["error_data"]["details"]
        assert error["error"]["type"] == "OAuthException" and isinstance(error["error"]["code"], int)
