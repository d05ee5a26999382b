"""Shared fixtures: trackers for action tests, and the phrase sets per locale."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

ROOT = Path(__file__).resolve().parent.parent
PHRASES_DIR = ROOT / "tests" / "phrases"


def load_phrases() -> Dict[str, Dict[str, List[str]]]:
    out = {}
    for path in sorted(PHRASES_DIR.glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        out[data["locale"]] = data["phrases"]
    return out


def make_tracker(
    text: str = "",
    intent: Optional[str] = None,
    slots: Optional[Dict[str, Any]] = None,
    entities: Optional[List[Dict[str, Any]]] = None,
    events: Optional[List[Dict[str, Any]]] = None,
    latest_action_name: str = "action_listen",
    active_loop: Optional[Dict[str, Any]] = None,
    confidence: float = 1.0,
    **parse_extra: Any,
) -> Tracker:
    latest = {
        "text": text,
        "intent": {"name": intent, "confidence": confidence} if intent else {},
        "entities": entities or [],
        **parse_extra,
    }
    user_event = {"event": "user", "text": text, "parse_data": latest}
    return Tracker(
        sender_id="test-user",
        slots={"language": None, "language_source": None, "menu": None, **(slots or {})},
        latest_message=latest,
        events=(events or []) + [user_event]
        + ([{"event": "action", "name": latest_action_name}] if latest_action_name != "action_listen" else []),
        paused=False,
        followup_action=None,
        active_loop=active_loop or {},
        latest_action_name=latest_action_name,
    )


@pytest.fixture
def dispatcher() -> CollectingDispatcher:
    return CollectingDispatcher()


def require_service(name: str, reachable: bool) -> None:
    """Skip a test whose service is absent, unless CI demands the service (REQUIRE_SERVICES=1)."""
    import os

    if reachable:
        return
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(f"{name} is required (REQUIRE_SERVICES=1) but not reachable")
    pytest.skip(f"{name} is not reachable on this machine; CI runs this test with the service")
