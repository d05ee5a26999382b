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


# ----- action calls reuse their connection and encode with ujson -----------------------------

async def test_action_calls_share_one_kept_alive_connection_and_arrive_as_sent():
    """Rasa opened a new connection (a new session) for every action call; ours reuse one."""
    import json

    from aiohttp import web
    from rasa.core.channels import CollectingOutputChannel
    from rasa.core.nlg import TemplatedNaturalLanguageGenerator
    from rasa.shared.core.events import SlotSet as CoreSlotSet, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    connections, bodies = set(), []

    async def webhook(request):
        connections.add(request.transport.get_extra_info("peername"))   # the client's port: one per connection
        bodies.append(json.loads(await request.read()))
        return web.json_response({"events": [{"event": "slot", "name": "menu", "value": f"m{len(bodies)}"}],
                                  "responses": []})

    app = web.Application()
    app.router.add_post("/webhook", webhook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        endpoint = EndpointConfig(f"http://127.0.0.1:{port}/webhook", enable_selective_domain=True)
        text = "mujhe 3 din se بخار hai / 😷 \u200c"
        tracker = DialogueStateTracker.from_events("u1", [
            UserUttered(text, {"name": "report_symptoms", "confidence": 0.91}, parse_data={
                "text": text, "intent": {"name": "report_symptoms", "confidence": 0.91}, "entities": []}),
            CoreSlotSet("menu", "main")], slots=_domain().slots)
        for _ in range(3):
            events = await RemoteAction("action_anything", endpoint).run(
                CollectingOutputChannel(), TemplatedNaturalLanguageGenerator({}), tracker, _domain())
            assert [e.as_dict()["value"] for e in events] == [f"m{len(bodies)}"]
        assert isinstance(endpoint, rasa_runtime.ActionEndpointConfig)
        assert len(connections) == 1   # Rasa's own session(): 3
        assert len(bodies) == 3 and all(b == bodies[0] for b in bodies)
        expected = json.loads(json.dumps(RemoteAction("action_anything", endpoint)._action_call_format(tracker, _domain())))
        assert bodies[0] == expected
        assert bodies[0]["tracker"]["latest_message"]["text"] == text
    finally:
        await runner.cleanup()


def test_action_call_json_is_the_standard_librarys():
    import json

    body = {"a/b": "بخار 😷", 1: 2.5, "nan": float("nan"), "big": 2 ** 70, "nested": [{"x": None, "y": True}]}
    assert rasa_runtime.dumps(body).replace(" ", "") == json.dumps(body, ensure_ascii=False).replace(" ", "")


def test_no_action_call_carries_the_domain():
    """Every form validation call used to carry Rasa's whole domain (700 KB of JSON, the action
    server's main cost under load): Rasa sends it to any `validate_*` action unless told not to."""
    from pathlib import Path

    from rasa.shared.core.domain import Domain
    from rasa.shared.core.trackers import DialogueStateTracker

    domain = Domain.load(str(Path(__file__).resolve().parent.parent / "domain.yml"))
    endpoint = EndpointConfig("http://127.0.0.1:1/webhook", enable_selective_domain=True)
    tracker = DialogueStateTracker.from_events("u1", [], slots=domain.slots)
    custom = [name for name in domain.user_actions if name.startswith(("action_", "validate_"))]
    assert {"validate_screening_form", "validate_doctor_form", "action_screening_result"} <= set(custom)
    for name in custom:
        assert "domain" not in RemoteAction(name, endpoint)._action_call_format(tracker, domain), name


# ----- the tracker copy before every action is structural, with the replay's result -----------

def _every_kind_of_event():
    from rasa.shared.core.events import (ActionExecuted, ActionExecutionRejected, ActionReverted, ActiveLoop,
                                         AllSlotsReset, BotUttered, ConversationPaused, ConversationResumed,
                                         EntitiesAdded, FollowupAction, LoopInterrupted, Restarted, SessionStarted,
                                         SlotSet as CoreSlotSet, UserUttered, UserUtteranceReverted)

    def user(text, intent, entities=()):
        return UserUttered(text, {"name": intent, "confidence": 0.9}, list(entities),
                           parse_data={"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": list(entities)})

    return [
        ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen"),
        user("salam", "greet"), ActionExecuted("action_greet"), BotUttered("Welcome", {"buttons": []}),
        CoreSlotSet("menu", "main"), ActionExecuted("action_listen"),
        user("mujhe bukhar hai", "report_symptoms", [{"entity": "symptom", "value": "fever"}]),
        ActionExecuted("screening_form"), ActiveLoop("screening_form"), CoreSlotSet("language", "ur-Latn"),
        CoreSlotSet("requested_slot", "age"), ActionExecuted("action_listen"), user("kya hai corona", "faq"),
        LoopInterrupted(True), ActionExecutionRejected("screening_form"), ActionExecuted("utter_faq"),
        FollowupAction("screening_form"), ActionExecuted("screening_form"), LoopInterrupted(False),
        EntitiesAdded([{"entity": "age", "value": "34"}]), ActionExecuted("action_listen"), user("34", "select_option"),
        CoreSlotSet("age", 34.0), ActionReverted(), ConversationPaused(), ConversationResumed(),
        ActionExecuted("action_listen"), user("asdf", "nlu_fallback"), UserUtteranceReverted(),
        ActiveLoop(None), CoreSlotSet("requested_slot", None), AllSlotsReset(), CoreSlotSet("language", "ps"),
        ActionExecuted("action_listen"), user("bas", "goodbye"), Restarted(), ActionExecuted("action_listen"),
    ]


COPY_DOMAIN_YAML = DOMAIN_YAML.replace("slots:\n", """slots:
  age: {type: float, influence_conversation: false, mappings: [{type: custom}]}
  requested_slot: {type: text, influence_conversation: false, mappings: [{type: custom}]}
""") + "forms:\n  screening_form:\n    required_slots: [age]\n"


def _state(tracker, domain):
    from rasa.shared.core.trackers import EventVerbosity

    return (tracker.current_state(EventVerbosity.ALL), tracker.past_states(domain), tracker.active_loop,
            tracker.latest_action, tracker.followup_action, tracker.is_paused(), tracker.sender_source,
            tracker.model_id, tracker.assistant_id, type(tracker.slots),
            {k: (s.value, s.has_been_set) for k, s in tracker.slots.items()})


def test_the_tracker_copy_is_the_replay_after_every_kind_of_event():
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.trackers import DialogueStateTracker

    domain = Domain.from_yaml(COPY_DOMAIN_YAML)
    events = _every_kind_of_event()
    assert DialogueStateTracker.copy is rasa_runtime.structural_copy
    for n in range(len(events) + 1):
        for slots in (domain.slots, None):   # None: a tracker without a domain (AnySlotDict)
            tracker = DialogueStateTracker.from_events("u1", events[:n], slots=slots)
            tracker.model_id, tracker.assistant_id, tracker.sender_source = "m1", "a1", "whatsapp"
            ours, replay = tracker.copy(), rasa_runtime._replay_copy(tracker)
            assert _state(ours, domain) == _state(replay, domain), (n, events[n - 1] if n else None)
            assert list(ours.events) == list(replay.events) and ours.sender_id == replay.sender_id


def test_changing_the_copy_leaves_the_original_alone():
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecutionRejected, LoopInterrupted, SlotSet as CoreSlotSet
    from rasa.shared.core.trackers import DialogueStateTracker

    domain = Domain.from_yaml(COPY_DOMAIN_YAML)
    events = _every_kind_of_event()[:14]   # inside the form, age asked
    tracker = DialogueStateTracker.from_events("u1", events, slots=domain.slots)
    before = _state(tracker, domain)
    clone = tracker.copy()
    clone.update_with_events([CoreSlotSet("age", 50.0), LoopInterrupted(True), ActionExecutionRejected("screening_form"),
                              CoreSlotSet("language", "sd")], domain)
    assert clone.get_slot("age") == 50.0 and clone.active_loop.rejected
    assert _state(tracker, domain) == before and len(tracker.events) == len(events)


def test_a_tracker_with_a_bounded_history_is_still_replayed():
    from rasa.shared.core.trackers import DialogueStateTracker

    tracker = DialogueStateTracker.from_events("u1", _every_kind_of_event()[:10], slots=_domain().slots,
                                               max_event_history=3)
    assert tracker.get_slot("menu") == "main"   # set by an event no longer in the history
    assert len(tracker.copy().events) == 3 and tracker.copy().get_slot("menu") is None   # the replay's answer


def test_event_classes_are_found_as_rasa_finds_them():
    from rasa.shared.core.events import Event, SlotSet as CoreSlotSet, deserialise_events
    from rasa.shared.utils.common import all_subclasses

    names = {cls.type_name for cls in all_subclasses(Event) if getattr(cls, "type_name", None)}
    assert {"slot", "user", "bot", "action", "active_loop", "followup"} <= names
    for name in sorted(names):
        assert Event.resolve_by_type(name) is rasa_runtime._resolve_by_type(name), name
        assert Event.resolve_by_type(name) is rasa_runtime._resolve_by_type(name), name   # remembered
    assert Event.resolve_by_type("no_such_event", default=CoreSlotSet) is CoreSlotSet
    assert Event.resolve_by_type("topic") is None
    with pytest.raises(ValueError, match="Unknown event name"):
        Event.resolve_by_type("no_such_event")
    assert "no_such_event" not in rasa_runtime._event_classes
    events = deserialise_events([{"event": "slot", "name": "age", "value": 34}, {"event": "followup", "name": "x"}])
    assert [type(e).__name__ for e in events] == ["SlotSet", "FollowupAction"]
