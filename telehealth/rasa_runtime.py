"""Work the Rasa server repeats on every turn for nothing, removed (issue 6: profiling a turn).

Imported by ``telehealth.nlu.components``, so every Rasa process that loads our model has it.
Each change keeps Rasa's behaviour and only stops repeated work; ``tests/test_rasa_runtime.py``
checks both. Rasa is pinned (3.6.21): a Rasa upgrade must re-check these against its code.

- ``RemoteAction._validate_action_result``: Rasa calls ``jsonschema.validate(result, spec)`` for
  every custom-action response, and ``jsonschema.validate`` first checks the *schema* itself
  against the JSON Schema meta-schema, every time. Profiled under load that was more than half
  of the event loop's time per turn (the forms call the action server two or three times a
  message). The schema is fixed, so it is checked once here and the compiled validator reused:
  the same responses pass and fail, with the same error message.
- ``ActionExtractSlots._execute_validation_action``: after every user message Rasa rebuilds the
  tracker from all its events and calls ``action_validate_slot_mappings`` on the action server
  with the whole tracker. Ours only sets the language (``actions/language.py``): once the user
  chose one, it can change something only on a message that may choose another
  (``telehealth.menus.may_choose_language``). For every other message Rasa is told here what
  the action would answer (nothing: the extracted slots stand as they are), without the call.
- ``RemoteAction._action_call_format``: every action call carries the whole conversation (late
  in a symptom check about 110 KB of JSON, encoded here and decoded by the action server two
  or three times a message: 13 % of a worker's event loop). Older events are sent without what
  no action reads: the bot's message texts and buttons, the user messages' tokens, rankings and
  response-selector output, and ``user_featurization`` events. The latest message (the
  tracker's ``latest_message``), the slots and every event's kind, name, intent, entities and
  time are sent as before. Actions must not read the text of the bot's past messages.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Dict, Optional, Text

import jsonschema
from rasa.core.actions.action import ActionExtractSlots, RemoteAction
from rasa.shared.constants import DOCS_BASE_URL
from rasa.shared.core.events import SlotSet

from telehealth.menus import may_choose_language


@lru_cache(maxsize=1)
def _action_result_validator() -> Any:
    schema = RemoteAction.action_response_format_spec()
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _validate_action_result(self: RemoteAction, result: Dict[Text, Any]) -> bool:
    try:
        # best_match: the error jsonschema.validate raises for the same input
        error = jsonschema.exceptions.best_match(_action_result_validator().iter_errors(result))
        if error is not None:
            raise error
        return True
    except jsonschema.ValidationError as e:
        e.message += (
            f". Failed to validate Action server response from API, "
            f"make sure your response from the Action endpoint is valid. "
            f"For more information about the format visit "
            f"{DOCS_BASE_URL}/custom-actions"
        )
        raise e


RemoteAction._validate_action_result = _validate_action_result  # type: ignore[assignment]


_validate_slot_mappings = ActionExtractSlots._execute_validation_action


def language_settled(tracker: Any) -> bool:
    """True when ``action_validate_slot_mappings`` would return no events for the latest message."""
    if tracker.get_slot("language_source") != "chosen":
        return False
    message = tracker.latest_message
    menu = next((e.get("value") for e in message.entities if e.get("entity") == "menu"), None)
    return not may_choose_language(message.intent.get("name"), menu)


async def _execute_validation_action(self: ActionExtractSlots, extraction_events: Any, output_channel: Any,
                                     nlg: Any, tracker: Any, domain: Any) -> Any:
    if language_settled(tracker):
        return [event for event in extraction_events if isinstance(event, SlotSet)]
    return await _validate_slot_mappings(self, extraction_events, output_channel, nlg, tracker, domain)


ActionExtractSlots._execute_validation_action = _execute_validation_action  # type: ignore[assignment]


_action_call_format = RemoteAction._action_call_format

#: What an action reads of a past user message's parse data.
_USER_PARSE_KEPT = ("intent", "entities", "message_id")


def compact_event(event: Dict[Text, Any]) -> Optional[Dict[Text, Any]]:
    """A past event as the action server gets it (None: not sent)."""
    kind = event.get("event")
    if kind == "user_featurization":
        return None
    if kind == "bot":
        return {k: v for k, v in event.items() if k not in ("text", "data")}
    if kind == "user" and isinstance(event.get("parse_data"), dict):
        parse = event["parse_data"]
        return {**event, "parse_data": {k: parse[k] for k in _USER_PARSE_KEPT if k in parse}}
    return event


def _compact_action_call_format(self: RemoteAction, tracker: Any, domain: Any) -> Dict[Text, Any]:
    body = _action_call_format(self, tracker, domain)
    state = body.get("tracker") or {}
    if isinstance(state.get("events"), list):
        state["events"] = [c for c in map(compact_event, state["events"]) if c is not None]
    return body


RemoteAction._action_call_format = _compact_action_call_format  # type: ignore[assignment]

