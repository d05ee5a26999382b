"""Writes tests/conversations/test_<locale>.yml from tests/phrases/<locale>.yml.

Every flow of the assistant, in every locale, as Rasa conversation tests (`rasa test core
--stories tests/conversations`). The user texts are held-out phrases written per locale,
so NLU is tested on wording it was not trained on. Re-run after changing the phrases.
"""
from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from telehealth.i18n import LOCALES  # noqa: E402
from telehealth.menus import FAQ_TOPICS  # noqa: E402
from telehealth.symptoms import extract  # noqa: E402
from telehealth.text import normalize  # noqa: E402

SIMPLE = {
    "greet": "action_greet",
    "help": "action_show_menu",
    "change_language": "action_show_language_menu",
    "choose_language": "action_language_changed",
    "ask_question": "action_show_faq_menu",
    "start_screening": "action_start_screening",
    "report_symptoms": "action_start_screening",
    "request_doctor": "action_start_consult",
    "emergency": "utter_emergency",
    "goodbye": "utter_goodbye",
    "thank": "utter_thank",
    "bot_challenge": "utter_bot_challenge",
    "affirm": "action_show_menu",
    "deny": "utter_deny",
}


def annotate(text: str) -> str:
    """The text (normalised, as NLU sees it) with the entities the SymptomExtractor must find.

    Conversation tests with --e2e compare predicted entities with annotated ones; the
    extractor's accuracy itself is measured on a separate held-out set (tests/symptoms/).
    """
    if text.startswith("/") or "](" in text or "]{" in text:
        return text
    text = normalize(text)
    spans = sorted(extract(text).spans)
    out, pos = [], 0
    for start, end, entity, value in spans:
        if start < pos:
            continue
        out.append(text[pos:start])
        out.append(f'[{text[start:end]}]{{"entity": "{entity}", "value": "{value}"}}')
        pos = end
    out.append(text[pos:])
    return "".join(out)


def user(text: str, intent: str) -> dict:
    return {"user": annotate(text), "intent": intent}


def number(locale: str, n: int) -> dict:
    """A typed number: Perso-Arabic locales type Urdu digits."""
    if locale in ("en", "ur-Latn"):
        return {"user": f"[{n}](option)", "intent": "select_option"}
    digits = str(n).translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))
    return {"user": f'[{digits}]{{"entity": "option", "value": "{n}"}}', "intent": "select_option"}


FORM = [{"action": "screening_form"}, {"active_loop": "screening_form"}]
ASK = [{"action": "screening_form"}]
DONE = [{"action": "screening_form"}, {"active_loop": None}, {"slot_was_set": [{"requested_slot": None}]},
        {"action": "action_screening_result"}]
STOPPED = [{"action": "action_deactivate_loop"}, {"active_loop": None},
           {"slot_was_set": [{"requested_slot": None}]}]


CONSULT_FORM = [{"action": "action_start_consult"}, {"slot_was_set": [{"consult_open": False}]},
                {"action": "doctor_form"}, {"active_loop": "doctor_form"}][1:]
CONSULT_ASK = [{"action": "doctor_form"}]
CONSULT_DONE = [{"action": "doctor_form"}, {"active_loop": None}, {"slot_was_set": [{"requested_slot": None}]},
                {"action": "action_submit_consult"}]
#: Locales doctors always speak: the patient is not asked whether Urdu or English would do.
COMMON = ("en", "ur", "ur-Latn")


def button(menu: str, option: int) -> dict:
    return {"user": f'/select_option{{"menu":"{menu}","option":"{option}"}}', "intent": "select_option"}


def consult_stories(locale: str, phrases: dict) -> list:
    """Talking to a doctor: the questions, a typed number, interruptions, status, cancel, the
    answers to the notifications (buttons), and an open request asked for again."""
    yes = user(phrases["affirm"][1], "affirm")
    start = [user(phrases["request_doctor"][2], "request_doctor"), {"action": "action_start_consult"}, *CONSULT_FORM]
    phone = {"user": "0300 1234567" if locale in ("en", "ur-Latn") else "۰۳۰۰ ۱۲۳۴۵۶۷", "intent": "give_phone_number"}
    last = [yes, *CONSULT_DONE] if locale not in COMMON else []
    whole = start + [number(locale, 2), *CONSULT_ASK, phone, *CONSULT_ASK, number(locale, 1), *CONSULT_ASK]
    whole += [number(locale, 3), *(CONSULT_ASK if last else CONSULT_DONE), *last]
    buttons = start + [button("consult", 1), *CONSULT_ASK, button("consult", 2), *CONSULT_ASK]
    buttons += [button("consult", 1), *(CONSULT_ASK if last else CONSULT_DONE), *last]
    interrupted = start + [
        user(phrases["faq/vaccine"][2], "faq"), {"action": "utter_faq"}, {"action": "doctor_form"},
        {"active_loop": "doctor_form"},
        user(phrases["emergency"][0], "emergency"), {"action": "utter_emergency"}, {"action": "doctor_form"},
        {"active_loop": "doctor_form"},
        number(locale, 1), *CONSULT_ASK,
        user(phrases["stop"][2], "stop"), *STOPPED, {"action": "utter_consult_stopped"}, {"action": "action_show_menu"},
    ]
    stories = [
        {"story": f"{locale}: talk to a doctor, another number typed", "steps": whole},
        {"story": f"{locale}: talk to a doctor, by buttons", "steps": buttons},
        {"story": f"{locale}: talk to a doctor, a question and an emergency mid-way, then stop", "steps": interrupted},
        {"story": f"{locale}: a phone number sent on its own starts the call-back questions",
         "steps": [phone, {"action": "action_start_consult"}, *CONSULT_FORM]},
        {"story": f"{locale}: asking for a doctor with a request already open gives its status",
         "steps": [user(phrases["request_doctor"][0], "request_doctor"), {"action": "action_start_consult"},
                   {"slot_was_set": [{"consult_open": True}]}]},
        {"story": f"{locale}: answers to the notifications: keep waiting, then a rating and a comment",
         "steps": [button("consult_sla", 1), {"action": "action_select_option"},
                   {"user": '/consult_feedback{"rating":"5"}', "intent": "consult_feedback"},
                   {"action": "action_consult_feedback"}, {"action": "feedback_form"}, {"active_loop": "feedback_form"},
                   user(phrases["thank"][1], "thank"), {"action": "feedback_form"}, {"active_loop": None},
                   {"slot_was_set": [{"requested_slot": None}]}, {"action": "action_save_feedback_comment"}]},
    ]
    if phrases.get("consult_status") and phrases.get("cancel_consult"):
        stories.append({"story": f"{locale}: status of my request, then cancel it", "steps": [
            user(phrases["consult_status"][0], "consult_status"), {"action": "action_consult_status"},
            user(phrases["cancel_consult"][0], "cancel_consult"), {"action": "action_cancel_consult"},
        ]})
        stories.append({"story": f"{locale}: status of my request during the symptom check, then the check goes on",
                        "steps": [user(phrases["start_screening"][1], "start_screening"),
                                  {"action": "action_start_screening"}, *FORM,
                                  user(phrases["consult_status"][1], "consult_status"),
                                  {"action": "action_consult_status"}, *FORM]})
    return stories


def screening_stories(locale: str, phrases: dict) -> list:
    """The symptom check: whole, for someone else, emergency exit, a question mid-way, stop."""
    yes = lambda i=0: user(phrases["affirm"][i % len(phrases["affirm"])], "affirm")  # noqa: E731
    no = lambda i=0: user(phrases["deny"][i % len(phrases["deny"])], "deny")  # noqa: E731
    start = [user(phrases["start_screening"][0], "start_screening"), {"action": "action_start_screening"}, *FORM]

    def answers(steps):
        out = []
        for step in steps:
            out += [step, *ASK]
        return out

    whole = start + answers([
        no(0),            # warning signs
        number(locale, 1),  # for me
        number(locale, 34),  # age
        yes(0), no(1), no(2), yes(1), no(0),  # fever, cough, sore throat, breathing, taste/smell
        number(locale, 0),  # other symptoms: none
        number(locale, 3),  # days
        number(locale, 2),  # contact: no
    ])
    whole += [number(locale, 0), *DONE]  # comorbidities: none -> result

    other = start + answers([no(1), number(locale, 2), number(locale, 67), yes(2), yes(0), no(0), no(1), no(2),
                             number(locale, 0), number(locale, 5), number(locale, 1)])
    other += [number(locale, 2), *DONE]

    emergency = start + [yes(0), *DONE]
    emergency_later = start + answers([no(0), number(locale, 1)]) + [
        user(phrases["emergency"][2], "emergency"), *DONE]

    faq = start + answers([no(0)]) + [
        user(phrases["faq/symptoms"][2], "faq"), {"action": "utter_faq"}, *FORM,
        number(locale, 1), *ASK,
        user(phrases["stop"][0], "stop"), *STOPPED,
        {"action": "utter_screening_stopped"}, {"action": "action_show_menu"},
    ]
    stop = start + [user(phrases["stop"][1], "stop"), *STOPPED,
                    {"action": "utter_screening_stopped"}, {"action": "action_show_menu"}]
    told = [user(phrases["report_symptoms"][0], "report_symptoms"), {"action": "action_start_screening"}, *FORM,
            *answers([no(2)]), user(phrases["request_doctor"][1], "request_doctor"), *STOPPED,
            {"action": "action_start_consult"}, *CONSULT_FORM]
    # Menu option 2 starts the check through a follow-up action, which conversation tests cannot
    # replay (actions do not run there): tests/e2e/test_screening.py covers it.
    return [
        {"story": f"{locale}: symptom check, whole", "steps": whole},
        {"story": f"{locale}: symptom check for someone else", "steps": other},
        {"story": f"{locale}: symptom check, danger sign ends it", "steps": emergency},
        {"story": f"{locale}: symptom check, emergency told mid-way", "steps": emergency_later},
        {"story": f"{locale}: symptom check, a question mid-way, then stop", "steps": faq},
        {"story": f"{locale}: symptom check, stop", "steps": stop},
        {"story": f"{locale}: symptoms told first, then asks for a doctor", "steps": told},
    ]


def stories_for(locale: str, phrases: dict) -> list:
    stories = []
    # First contact: greeting, welcome and language menu, choice by button, then the menu by number.
    stories.append({
        "story": f"{locale}: first contact, choose the language, use the menu",
        "steps": [
            user(phrases["greet"][0], "greet"), {"action": "action_greet"},
            {"user": f'/choose_language{{"language":"{locale}"}}', "intent": "choose_language"},
            {"action": "action_language_changed"},
            user("[2](option)", "select_option"), {"action": "action_select_option"},
        ],
    })
    # One story per intent: the answer each intent gets. (All held-out phrases are scored
    # per locale, with a threshold, by tests/e2e/test_nlu_held_out.py.)
    for intent, action in SIMPLE.items():
        steps = [user(phrases[intent][0], intent), {"action": action}]
        if action == "action_start_screening":
            steps += [{"action": "screening_form"}, {"active_loop": "screening_form"}]
        if action == "action_start_consult":
            steps += CONSULT_FORM
        stories.append({"story": f"{locale}: {intent}", "steps": steps})
    for topic in FAQ_TOPICS:
        stories.append({
            "story": f"{locale}: faq {topic}",
            "steps": [user(phrases[f"faq/{topic}"][0], f"faq/{topic}"), {"action": "utter_faq"}],
        })
    # An emergency in the middle of anything is answered at once.
    stories.append({
        "story": f"{locale}: emergency after a question",
        "steps": [
            user(phrases["faq/symptoms"][1], "faq/symptoms"), {"action": "utter_faq"},
            user(phrases["emergency"][1], "emergency"), {"action": "utter_emergency"},
        ],
    })
    # Two-stage fallback: out of scope twice.
    stories.append({
        "story": f"{locale}: out of scope twice",
        "steps": [
            user(phrases["out_of_scope"][0], "out_of_scope"), {"action": "action_fallback"},
            user(phrases["out_of_scope"][1], "out_of_scope"), {"action": "action_fallback"},
        ],
    })
    # Change language from the menu, then pick by number.
    stories.append({
        "story": f"{locale}: change language by menu and number",
        "steps": [
            user(phrases["change_language"][1], "change_language"), {"action": "action_show_language_menu"},
            # Perso-Arabic locales type the number in Urdu digits; it is read as option 3.
            user('[۳]{"entity": "option", "value": "3"}' if locale not in ("en", "ur-Latn") else "[3](option)",
                 "select_option"),
            {"action": "action_select_option"},
        ],
    })
    # WhatsApp messages that are not text arrive as payloads (telehealth/channels/whatsapp.py).
    stories.append({
        "story": f"{locale}: voice note, picture and location on WhatsApp",
        "steps": [
            {"user": "/voice_note", "intent": "voice_note"}, {"action": "utter_voice_note"},
            {"user": "/media_message", "intent": "media_message"}, {"action": "utter_media_received"},
            # (The coordinates, and the slots they fill, are tested in tests/e2e/test_whatsapp.py.)
            {"user": "/share_location", "intent": "share_location"},
            {"action": "utter_location_received"},
        ],
    })
    stories += screening_stories(locale, phrases)
    stories += consult_stories(locale, phrases)
    return stories


class _NoAliases(yaml.SafeDumper):
    def ignore_aliases(self, data) -> bool:
        return True


def render(locale: str) -> str:
    """The text of tests/conversations/test_<locale>.yml."""
    phrases = yaml.safe_load((ROOT / "tests" / "phrases" / f"{locale}.yml").read_text(encoding="utf-8"))["phrases"]
    doc = {"version": "3.1", "stories": stories_for(locale, phrases)}
    header = f"# GENERATED by scripts/make_conversation_tests.py from tests/phrases/{locale}.yml\n"
    return header + yaml.dump(doc, Dumper=_NoAliases, allow_unicode=True, sort_keys=False, width=10_000)


def path_for(locale: str) -> Path:
    return ROOT / "tests" / "conversations" / f"test_{locale.replace('-', '_')}.yml"


def main() -> int:
    for locale in LOCALES:
        path = path_for(locale)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = render(locale)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}: {text.count('- story:')} stories")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
