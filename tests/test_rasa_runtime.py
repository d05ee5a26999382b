"""telehealth.rasa_runtime keeps Rasa's checks while removing their repeated work."""
from __future__ import annotations

import jsonschema
import pytest
from rasa.core.actions.action import RemoteAction
from rasa.utils.endpoints import EndpointConfig

import telehealth.nlu.components  # noqa: F401  (loading our model's components applies the change)
from telehealth import rasa_runtime


@pytest.fixture
def action():
    return RemoteAction("action_anything", EndpointConfig("http://127.0.0.1:1/webhook"))


def test_the_model_components_install_the_cached_validator():
    assert RemoteAction._validate_action_result is rasa_runtime._validate_action_result


def test_a_valid_action_server_response_passes(action):
    assert action._validate_action_result({"events": [{"event": "slot", "name": "age", "value": 34}],
                                           "responses": [{"text": "hi"}]})


@pytest.mark.parametrize("result", [
    {"events": "not a list"},
    {"events": [{"event": "slot", "name": "age", "value": 34}], "responses": "nope"},
    {"events": [{"no_event_key": 1}]},
])
def test_an_invalid_response_fails_with_the_error_jsonschema_validate_gives(action, result):
    with pytest.raises(jsonschema.ValidationError) as expected:
        jsonschema.validate(result, RemoteAction.action_response_format_spec())
    with pytest.raises(jsonschema.ValidationError) as got:
        action._validate_action_result(result)
    assert got.value.message.startswith(expected.value.message)
    assert "Failed to validate Action server response" in got.value.message


def test_the_schema_is_checked_once_not_per_response(action, monkeypatch):
    rasa_runtime._action_result_validator.cache_clear()
    checks = []
    original = jsonschema.validators.Draft202012Validator.check_schema.__func__

    def counting(cls, schema, *args, **kwargs):
        checks.append(1)
        return original(cls, schema, *args, **kwargs)

    cls = jsonschema.validators.validator_for(RemoteAction.action_response_format_spec())
    monkeypatch.setattr(cls, "check_schema", classmethod(counting))
    for _ in range(5):
        action._validate_action_result({"events": [], "responses": []})
    assert len(checks) == 1


# ----- action_validate_slot_mappings is not called when it could change nothing ---------------

DOMAIN_YAML = """
version: "3.1"
intents: [report_symptoms, faq, greet, affirm, choose_language, select_option]
entities: [language, menu, option]
actions: [action_validate_slot_mappings]
slots:
  language: {type: text, influence_conversation: false, mappings: [{type: custom}]}
  language_source: {type: categorical, values: [detected, chosen], influence_conversation: false, mappings: [{type: custom}]}
  menu: {type: text, influence_conversation: false, mappings: [{type: custom}]}
"""


def _domain():
    from rasa.shared.core.domain import Domain

    return Domain.from_yaml(DOMAIN_YAML)


def _trackers(intent, entities, language_source, language="ur", detected=("ps", 0.99), text="mujhe bukhar hai aaj"):
    """The same conversation as the Rasa server holds it and as the action server receives it."""
    from rasa.shared.core.events import SlotSet as CoreSlotSet, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity
    from rasa_sdk import Tracker

    parse = {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": entities,
             "language_detection": {"locale": detected[0], "confidence": detected[1]}}
    core = DialogueStateTracker.from_events("u1", [
        CoreSlotSet("language", language), CoreSlotSet("language_source", language_source), CoreSlotSet("menu", "language"),
        UserUttered(text, parse["intent"], entities, parse_data=parse)], slots=_domain().slots)
    return core, Tracker.from_dict(core.current_state(EventVerbosity.AFTER_RESTART))


MESSAGES = [
    ("report_symptoms", []), ("faq", []), ("greet", []), ("affirm", []),
    ("choose_language", [{"entity": "language", "value": "sindhi"}]),
    ("select_option", [{"entity": "menu", "value": "screening"}, {"entity": "option", "value": "1"}]),
    ("select_option", [{"entity": "menu", "value": "language"}, {"entity": "option", "value": "6"}]),
    ("select_option", [{"entity": "option", "value": "3"}]),   # a bare number: the language menu was shown last
]


def test_a_skipped_call_is_one_whose_answer_would_have_been_nothing():
    import asyncio

    from rasa_sdk.executor import CollectingDispatcher

    from actions.language import ActionValidateSlotMappings

    skipped, answered = [], []
    for source in ("chosen", "detected", None):
        for intent, entities in MESSAGES:
            core, sdk = _trackers(intent, entities, source)
            assert sdk.get_slot("language_source") == core.get_slot("language_source") == source
            dispatcher = CollectingDispatcher()
            events = asyncio.run(ActionValidateSlotMappings().run(dispatcher, sdk, {}))
            if rasa_runtime.language_settled(core):
                assert events == [] and dispatcher.messages == [], (intent, entities, source)
                skipped.append((intent, source))
            elif events:
                answered.append((intent, source))
    assert {s for _, s in skipped} == {"chosen"} and len(skipped) == 5
    assert {("choose_language", "chosen"), ("select_option", "chosen"), ("report_symptoms", "detected")} <= set(answered)


def test_settled_messages_skip_the_call_and_choices_still_make_it(monkeypatch):
    import asyncio

    from rasa.core.actions.action import ActionExtractSlots
    from rasa.core.channels import CollectingOutputChannel
    from rasa.core.nlg import TemplatedNaturalLanguageGenerator

    calls = []

    async def remote_run(self, output_channel, nlg, tracker, domain):
        calls.append(self.name())
        return []

    monkeypatch.setattr(RemoteAction, "run", remote_run)
    action = ActionExtractSlots(EndpointConfig("http://127.0.0.1:1/webhook"))

    def run(core):
        calls.clear()
        asyncio.run(action.run(CollectingOutputChannel(), TemplatedNaturalLanguageGenerator({}), core, _domain()))
        return list(calls)

    assert run(_trackers("report_symptoms", [], "chosen")[0]) == []
    assert run(_trackers("report_symptoms", [], "detected")[0]) == ["action_validate_slot_mappings"]
    assert run(_trackers("choose_language", [{"entity": "language", "value": "sindhi"}], "chosen")[0]) == [
        "action_validate_slot_mappings"]


# ----- the action call carries what actions read, not every past message's texts ------------

def test_the_compact_action_call_keeps_what_the_actions_read():
    import json

    from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet as CoreSlotSet, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker
    from rasa_sdk import Tracker

    from actions.fallback import consecutive_misunderstandings
    from actions.forms import fresh_message
    from actions.handoff import _last_menu_at

    def user(text, intent, **extra):
        parse = {"text": text, "intent": {"name": intent, "confidence": 0.4},
                 "entities": extra.get("entities", []), "text_tokens": [[0, len(text)]],
                 "intent_ranking": [{"name": intent, "confidence": 0.4}] * 3,
                 "response_selector": {"faq": {"response": {"intent_response_key": "faq/spread"}, "ranking": [{}] * 3}},
                 "language_detection": {"locale": "ur-Latn", "confidence": 0.9}}
        return UserUttered(text, parse["intent"], parse["entities"], parse_data=parse)

    menu = [{"title": f"Option {i}", "payload": f'/select_option{{"menu":"main","option":"{i}"}}'} for i in range(9)]
    events = [ActionExecuted("action_listen"), user("salam", "greet"),
              ActionExecuted("action_greet"), BotUttered("Welcome! " * 80, {"buttons": menu}, {"utter_action": "utter_greet"}),
              CoreSlotSet("menu", "main"), ActionExecuted("action_listen"),
              user("asdf", "nlu_fallback"), ActionExecuted("action_fallback"), BotUttered("Sorry? " * 50),
              ActionExecuted("action_listen"), user("qwer", "out_of_scope", entities=[{"entity": "symptom", "value": "fever"}])]
    tracker = DialogueStateTracker.from_events("u1", events, slots=_domain().slots)
    action = RemoteAction("action_anything", EndpointConfig("http://127.0.0.1:1/webhook", enable_selective_domain=True))
    compact = action._action_call_format(tracker, _domain())
    full = rasa_runtime._action_call_format(action, tracker, _domain())
    assert len(json.dumps(compact)) < len(json.dumps(full)) / 2
    assert compact["tracker"]["latest_message"] == full["tracker"]["latest_message"]
    small, big = Tracker.from_dict(compact["tracker"]), Tracker.from_dict(full["tracker"])
    assert small.slots == big.slots and small.latest_message == big.latest_message
    assert [e["event"] for e in small.events] == [e["event"] for e in big.events]
    assert consecutive_misunderstandings(small) == consecutive_misunderstandings(big) == 2
    assert fresh_message(small) == fresh_message(big)
    assert _last_menu_at(small) == _last_menu_at(big) > 0
    assert [e.get("parse_data", {}).get("entities") for e in small.events] == [
        e.get("parse_data", {}).get("entities") for e in big.events]
    assert all("text" not in e and "data" not in e for e in small.events if e["event"] == "bot")
    assert rasa_runtime.compact_event({"event": "user_featurization", "use_text_for_featurization": False}) is None
