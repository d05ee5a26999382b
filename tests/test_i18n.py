"""The catalogs: complete in every locale, within WhatsApp limits, and what the domain holds."""
import pytest
import yaml

from telehealth import i18n
from telehealth.i18n import LOCALES, catalog_problems, catalogs, render_responses_file, resolve_language


def test_every_locale_is_complete_and_within_whatsapp_limits():
    assert catalog_problems() == []


def test_catalog_check_catches_missing_empty_and_long(tmp_path):
    for tag in LOCALES:
        (tmp_path / f"{tag}.yml").write_text((i18n.LOCALES_DIR / f"{tag}.yml").read_text(encoding="utf-8"), encoding="utf-8")
    ur = yaml.safe_load((tmp_path / "ur.yml").read_text(encoding="utf-8"))
    del ur["responses"]["utter_goodbye"]
    ur["responses"]["utter_thank"][0]["text"] = " "
    ur["responses"]["utter_main_menu"][0]["buttons"][0]["title"] = "ایک بہت لمبا بٹن کا عنوان"
    (tmp_path / "ur.yml").write_text(yaml.safe_dump(ur, allow_unicode=True), encoding="utf-8")
    problems = "\n".join(catalog_problems(tmp_path))
    assert "ur: response utter_goodbye is missing" in problems
    assert "ur: utter_thank has an empty text" in problems
    assert "WhatsApp allows 20" in problems


def test_each_locale_has_a_review_status():
    for tag, cat in catalogs().items():
        assert cat.review in ("reviewed", "machine-drafted"), tag


def test_generated_responses_file_is_up_to_date():
    assert i18n.RESPONSES_FILE.read_text(encoding="utf-8") == render_responses_file(), (
        "data/responses.yml is stale: run `make responses`"
    )


def test_every_faq_answer_ends_with_a_way_back_and_fits_a_phone_screen():
    for tag, cat in catalogs().items():
        for key, variants in cat.responses.items():
            if key.startswith("utter_faq/"):
                text = variants[0]["text"]
                assert len(text) < 4096
                last_line = text.strip().splitlines()[-1]
                assert "menu" in last_line.lower() or "*" in last_line, (tag, key, last_line)


@pytest.mark.parametrize(
    "text, tag",
    [
        ("urdu", "ur"),
        ("اردو میں بات کرو", "ur"),
        ("roman urdu please", "ur-Latn"),
        ("English", "en"),
        ("پښتو", "ps"),
        ("pashto", "ps"),
        ("سنڌي", "sd"),
        ("punjabi", "pa"),
        ("بلوچی", "bal"),
        ("kashmiri", "ks"),
        ("ur-Latn", "ur-Latn"),
        ("ur-latn", "ur-Latn"),
        ("chinese", None),
        ("", None),
    ],
)
def test_resolve_language(text, tag):
    assert resolve_language(text) == tag


def test_emergency_answers_give_1122_in_every_locale():
    for tag, cat in catalogs().items():
        assert "1122" in cat.responses["utter_emergency"][0]["text"], tag
        assert "1122" in cat.responses["utter_welcome"][0]["text"], tag


async def test_rasa_renders_every_response_in_every_locale_from_its_catalog():
    """What Rasa's own response generator sends, for each locale, is the catalog's text and buttons."""
    from rasa.core.nlg import TemplatedNaturalLanguageGenerator
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import SlotSet
    from rasa.shared.core.trackers import DialogueStateTracker

    domain = Domain.load([str(i18n.ROOT / "domain.yml"), str(i18n.RESPONSES_FILE)])
    nlg = TemplatedNaturalLanguageGenerator(domain.responses)
    for tag, cat in catalogs().items():
        tracker = DialogueStateTracker.from_events("u", [SlotSet("language", tag)], slots=domain.slots)
        for key, variants in cat.responses.items():
            sent = await nlg.generate(key, tracker, "rest")
            assert sent["text"] == variants[0]["text"], (tag, key)
            assert (sent.get("buttons") or []) == variants[0].get("buttons", []), (tag, key)


def test_button_payloads_survive_rasas_slot_interpolation():
    """Rasa treats {…} in responses as slot placeholders; a JSON payload must come out literal."""
    generated = yaml.safe_load(i18n.RESPONSES_FILE.read_text(encoding="utf-8"))["responses"]
    source = catalogs()["en"].responses
    for key, variants in generated.items():
        for variant in variants:
            for button, original in zip(variant.get("buttons", []), source[key][0].get("buttons", [])):
                # Rasa formats responses with str.format: an unescaped "{" raises here.
                assert button["payload"].format({}) == original["payload"]
