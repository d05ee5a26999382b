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
