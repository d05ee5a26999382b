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
- ``DialogueStateTracker.copy``: before every action Rasa copies the tracker (to drop the
  policy's events if the action is rejected) by building an empty tracker and replaying every
  event of the session into it: 6 % of a worker's event loop late in a symptom check. The copy
  here is structural: the same attributes as the replay gives (sender, slots and their values,
  latest message and action, active loop, pause, follow-up; no model or assistant id or source,
  as the replay has none), each mutable part its own, so changing the copy never changes the
  original. Trackers with a bounded event history keep Rasa's replay (dropped events would
  give a different state). A test compares both copies over every kind of event.
- ``Event.resolve_by_type``: every event an action returns is deserialised by looking its type
  up among all subclasses of ``Event``, collected again (recursively) for each event: 2 % of a
  worker's event loop. The class found for a name is remembered (a name not found is looked up
  again; a default is never remembered).
- ``EndpointConfig.session`` for the action endpoint: Rasa opens a new HTTP session, and so a new
  TCP connection the action server must accept, for every action call, and encodes the body with
  the standard library's ``json``. The action endpoint keeps one session per event loop (its
  connections kept alive for a shorter time than the action server keeps them, so a connection is
  never reused just as the server closes it) and encodes with ``ujson`` (already installed for
  Sanic, which decodes with it on the action server's side; the same JSON, ``json`` as fallback).
"""
from __future__ import annotations

import asyncio
import atexit
import copy
import json
import weakref
from functools import lru_cache
from typing import Any, Dict, List, Optional, Text

import aiohttp
import jsonschema
import ujson
from rasa.core.actions.action import ActionExtractSlots, RemoteAction
from rasa.core.constants import DEFAULT_REQUEST_TIMEOUT
from rasa.shared.constants import DEFAULT_SENDER_ID, DOCS_BASE_URL
from rasa.shared.core.events import Event, SlotSet
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

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


# ----- action calls: kept-alive connections, ujson encoding --------------------------------

#: Seconds an idle connection to the action server is kept: under Sanic's 5 (KEEP_ALIVE_TIMEOUT),
#: so the client always gives a connection up before the server does.
ACTION_KEEPALIVE_S = 2.0


def dumps(obj: Any) -> str:
    """JSON text of an action call: ujson's (about three times as fast), ``json``'s when it refuses."""
    try:
        return ujson.dumps(obj, ensure_ascii=False, escape_forward_slashes=False)
    except (OverflowError, TypeError, ValueError):
        return json.dumps(obj)


class _Kept:
    """``async with`` a session that outlives the block (Rasa's ``request`` closes what it opens)."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def __aenter__(self) -> aiohttp.ClientSession:
        return self.session

    async def __aexit__(self, *exc: Any) -> None:
        return None


#: Every kept session, held to the end of the process (closed at exit, never collected unclosed).
_open_sessions: List[aiohttp.ClientSession] = []


class ActionEndpointConfig(EndpointConfig):
    """The action endpoint, with one kept-alive session per event loop (Rasa's ``request`` as is)."""

    def session(self) -> Any:  # type: ignore[override]
        loop = asyncio.get_running_loop()
        sessions = self.__dict__.get("_sessions")
        if sessions is None:
            sessions = self.__dict__["_sessions"] = weakref.WeakKeyDictionary()
        session = sessions.get(loop)
        if session is None or session.closed:
            # Rasa's headers, auth and timeout (EndpointConfig.session), kept-alive connections, ujson
            auth = aiohttp.BasicAuth(self.basic_auth["username"], self.basic_auth["password"]) if self.basic_auth else None
            session = aiohttp.ClientSession(
                headers=self.headers, auth=auth, timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
                connector=aiohttp.TCPConnector(keepalive_timeout=ACTION_KEEPALIVE_S), json_serialize=dumps)
            sessions[loop] = session
            _open_sessions.append(session)
        return _Kept(session)


@atexit.register
def _close_sessions() -> None:
    """Close the kept connections at exit (else aiohttp reports each session as unclosed)."""
    for session in _open_sessions:
        if not session.closed and session.connector is not None:
            try:
                session.connector._close()   # synchronous; marks it closed even if its loop is gone
            except Exception:  # noqa: BLE001 (a loop closed before the process ends)
                pass


_remote_action_init = RemoteAction.__init__


def _remote_action_init_kept(self: RemoteAction, name: Text, action_endpoint: Optional[EndpointConfig]) -> None:
    if action_endpoint is not None and type(action_endpoint) is EndpointConfig:
        action_endpoint.__class__ = ActionEndpointConfig
    _remote_action_init(self, name, action_endpoint)


RemoteAction.__init__ = _remote_action_init_kept  # type: ignore[assignment]


# ----- the tracker copy before every action: structural, not a replay ----------------------

_replay_copy = DialogueStateTracker.copy


def structural_copy(self: DialogueStateTracker) -> DialogueStateTracker:
    """What ``self.copy()`` returns, without replaying every event (see the module docstring)."""
    if self._max_event_history is not None:
        return _replay_copy(self)
    clone = copy.copy(self)
    clone.sender_id = self.sender_id or DEFAULT_SENDER_ID
    clone.events = self._create_events(list(self.events))
    clone.slots = {slot.name: copy.copy(slot) for slot in self.slots.values()}   # as init_copy builds them
    clone.active_loop = copy.copy(self.active_loop)   # LoopInterrupted and rejections change it in place
    clone.latest_action = dict(self.latest_action) if self.latest_action is not None else None
    clone.sender_source = None
    clone.model_id = None
    clone.assistant_id = None
    return clone


DialogueStateTracker.copy = structural_copy  # type: ignore[assignment]


# ----- the event class for a type name, looked up once ------------------------------------

_resolve_by_type = Event.resolve_by_type
_event_classes: Dict[Text, Any] = {}


def resolve_by_type(type_name: Text, default: Optional[Any] = None) -> Optional[Any]:
    """``Event.resolve_by_type``, remembering the class found for each name."""
    found = _event_classes.get(type_name)
    if found is None:
        found = _resolve_by_type(type_name, default)
        if found is not None and found is not default and getattr(found, "type_name", None) == type_name:
            _event_classes[type_name] = found
    return found


Event.resolve_by_type = staticmethod(resolve_by_type)  # type: ignore[assignment]
