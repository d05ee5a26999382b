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
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Dict, Text

import jsonschema
from rasa.core.actions.action import RemoteAction
from rasa.shared.constants import DOCS_BASE_URL


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
