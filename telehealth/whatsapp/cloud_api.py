"""The WhatsApp Business Cloud API, as data: webhook signatures, incoming envelopes, outgoing
message bodies and Meta's limits on them.

Pure Python (no Rasa, no HTTP): the connector (``telehealth/channels/whatsapp.py``, issue 4) and
the local stand-in for the Cloud API (``telehealth/sandbox``) both use it, so the stand-in rejects
exactly what this module's limits say Meta rejects. Facts: ../shared/docs/whatsapp.md.

Button and list ids are the Rasa payloads themselves (``/select_option{"menu":"main","option":"2"}``),
so a tap is understood from its id, never from its title (titles change with the language).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field, fields
from typing import Any, Dict, List, Optional, Tuple

# Limits of interactive messages (characters or items), from Meta's documentation.
TEXT_MAX = 4096
BUTTONS_MAX = 3
BUTTON_TITLE_MAX = 20
BUTTON_ID_MAX = 256
INTERACTIVE_BODY_MAX = 1024
FOOTER_MAX = 60
LIST_ROWS_MAX = 10
LIST_ROW_TITLE_MAX = 24
LIST_ROW_ID_MAX = 200
LIST_ROW_DESCRIPTION_MAX = 72
LIST_BUTTON_MAX = 20
CAPTION_MAX = 1024               # image, video and document captions
#: A free-form message to someone whose last message is older than this fails (131047).
WINDOW_HOURS = 24
WINDOW_CLOSED = 131047

SIGNATURE_HEADER = "X-Hub-Signature-256"


# ----- signatures ---------------------------------------------------------------------------

def sign(body: bytes, app_secret: str) -> str:
    """The ``X-Hub-Signature-256`` value Meta sends for ``body``."""
    return "sha256=" + hmac.new(app_secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def signature_valid(body: bytes, header: Optional[str], app_secret: str) -> bool:
    """Checks the header against the raw body, in constant time. A missing header is invalid."""
    if not header or not app_secret:
        return False
    return hmac.compare_digest(sign(body, app_secret), header.strip())


# ----- incoming ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Inbound:
    """One message a user sent, as the conversation needs it."""

    message_id: str
    wa_id: str
    timestamp: int
    kind: str                    # text, button, list, template_button, location, voice, audio, image, …
    text: Optional[str] = None   # what Rasa receives (text, or a button/list id payload)
    profile_name: Optional[str] = None
    location: Optional[Dict[str, Any]] = None
    media_id: Optional[str] = None
    phone_number_id: Optional[str] = None

    @classmethod
    def from_stored(cls, payload: Dict[str, Any]) -> Optional["Inbound"]:
        """A message stored by this or an earlier version (``store.unprocessed``): fields it does
        not know are ignored; None when a required one is missing (the caller skips it and the
        row stays stored for an operator), so one odd row cannot stop a process from starting."""
        known = {f.name for f in fields(cls)}
        try:
            return cls(**{k: v for k, v in payload.items() if k in known})
        except TypeError:
            return None


@dataclass(frozen=True)
class StatusUpdate:
    message_id: str
    status: str                  # sent, delivered, read, failed
    timestamp: int
    recipient_id: Optional[str] = None
    errors: Tuple[Dict[str, Any], ...] = ()


@dataclass
class Envelope:
    messages: List[Inbound] = field(default_factory=list)
    statuses: List[StatusUpdate] = field(default_factory=list)


#: Message kinds that carry no text for the conversation; the bot answers them politely.
MEDIA_KINDS = ("image", "document", "video", "sticker")


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def parse_envelope(payload: Any) -> Envelope:
    """Every message and status of every entry and change; malformed parts are skipped."""
    out = Envelope()
    if not isinstance(payload, dict):
        return out
    for entry in payload.get("entry") or []:
        if not isinstance(entry, dict):
            continue
        for change in entry.get("changes") or []:
            value = (change or {}).get("value") if isinstance(change, dict) else None
            if not isinstance(value, dict):
                continue
            number_id = (value.get("metadata") or {}).get("phone_number_id")
            names = {
                c.get("wa_id"): (c.get("profile") or {}).get("name")
                for c in value.get("contacts") or [] if isinstance(c, dict)
            }
            for message in value.get("messages") or []:
                inbound = _inbound(message, names, number_id)
                if inbound is not None:
                    out.messages.append(inbound)
            for status in value.get("statuses") or []:
                if isinstance(status, dict) and status.get("id") and status.get("status"):
                    out.statuses.append(StatusUpdate(
                        message_id=str(status["id"]),
                        status=str(status["status"]),
                        timestamp=_int(status.get("timestamp")),
                        recipient_id=status.get("recipient_id"),
                        errors=tuple(e for e in status.get("errors") or [] if isinstance(e, dict)),
                    ))
    return out


def _inbound(message: Any, names: Dict[str, Any], number_id: Optional[str]) -> Optional[Inbound]:
    if not isinstance(message, dict) or not message.get("id") or not message.get("from"):
        return None
    kind = str(message.get("type") or "unknown")
    common = dict(
        message_id=str(message["id"]),
        wa_id=str(message["from"]),
        timestamp=_int(message.get("timestamp")),
        profile_name=names.get(message.get("from")),
        phone_number_id=number_id,
    )
    if kind == "text":
        return Inbound(kind="text", text=str((message.get("text") or {}).get("body") or ""), **common)
    if kind == "interactive":
        interactive = message.get("interactive") or {}
        sub = interactive.get("type")
        reply = interactive.get(sub) if sub in ("button_reply", "list_reply") else None
        if isinstance(reply, dict) and reply.get("id"):
            return Inbound(kind="button" if sub == "button_reply" else "list", text=str(reply["id"]), **common)
        return Inbound(kind="unsupported", **common)
    if kind == "button":  # quick-reply button of a template
        button = message.get("button") or {}
        return Inbound(kind="template_button", text=str(button.get("payload") or button.get("text") or ""), **common)
    if kind == "location":
        loc = message.get("location") or {}
        return Inbound(kind="location", location={k: loc.get(k) for k in ("latitude", "longitude", "name", "address")}, **common)
    if kind == "audio":
        audio = message.get("audio") or {}
        return Inbound(kind="voice" if audio.get("voice") else "audio", media_id=audio.get("id"), **common)
    if kind in MEDIA_KINDS:
        return Inbound(kind=kind, media_id=(message.get(kind) or {}).get("id"), **common)
    if kind == "reaction":
        return Inbound(kind="reaction", **common)
    return Inbound(kind="unsupported", **common)


# ----- outgoing ------------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"(?<=[.!?۔؟])\s+|\n+")


def split_text(text: str, limit: int = TEXT_MAX) -> List[str]:
    """Pieces of at most ``limit`` characters, cut at sentence or line ends where possible."""
    text = text or ""
    if len(text) <= limit:
        return [text]
    pieces: List[str] = []
    current = ""
    for sentence in _pieces(text):
        while len(sentence) > limit:  # one sentence longer than a message: cut at a space
            cut = sentence.rfind(" ", 0, limit)
            cut = cut if cut > 0 else limit
            if current:
                pieces.append(current)
                current = ""
            pieces.append(sentence[:cut].rstrip())
            sentence = sentence[cut:].lstrip()
        candidate = f"{current}{sentence}" if current else sentence
        if len(candidate.rstrip()) <= limit:
            current = candidate
        else:
            pieces.append(current.rstrip())
            current = sentence
    if current.strip():
        pieces.append(current.rstrip())
    return pieces


def _pieces(text: str) -> List[str]:
    """Sentences with their trailing separators kept, so joining them gives the text back."""
    out, last = [], 0
    for match in _SENTENCE_END.finditer(text):
        out.append(text[last:match.end()])
        last = match.end()
    if last < len(text):
        out.append(text[last:])
    return out


def text_body(to: str, text: str) -> Dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "text",
        "text": {"body": text, "preview_url": False},
    }


#: The label of the button that opens a list: a symbol, the same in every language.
LIST_LABEL = "☰"


def buttons_body(to: str, text: str, buttons: List[Dict[str, str]], list_label: str = "Choose") -> Dict[str, Any]:
    """Rasa buttons as reply buttons (up to 3) or as a list (up to 10 rows)."""
    interactive: Dict[str, Any]
    if len(buttons) <= BUTTONS_MAX:
        interactive = {
            "type": "button",
            "body": {"text": text},
            "action": {"buttons": [
                {"type": "reply", "reply": {"id": b["payload"], "title": b["title"]}} for b in buttons
            ]},
        }
    else:
        interactive = {
            "type": "list",
            "body": {"text": text},
            "action": {
                "button": list_label,
                "sections": [{"title": list_label, "rows": [
                    {"id": b["payload"], "title": b["title"]} for b in buttons[:LIST_ROWS_MAX]
                ]}],
            },
        }
    return {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to,
            "type": "interactive", "interactive": interactive}


def template_body(to: str, name: str, language: str, parameters: List[str]) -> Dict[str, Any]:
    """A pre-approved template (the only thing WhatsApp delivers outside the 24-hour window)."""
    body: Dict[str, Any] = {"name": name, "language": {"code": language}}
    if parameters:
        body["components"] = [{"type": "body", "parameters": [{"type": "text", "text": p} for p in parameters]}]
    return {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "template",
            "template": body}


def read_receipt_body(message_id: str) -> Dict[str, Any]:
    """Marks a message read and shows the typing indicator."""
    return {"messaging_product": "whatsapp", "status": "read", "message_id": message_id,
            "typing_indicator": {"type": "text"}}


def image_body(to: str, link: str, caption: str = "") -> Dict[str, Any]:
    image: Dict[str, Any] = {"link": link}
    if caption:
        image["caption"] = caption
    return {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "image", "image": image}


def message_bodies(to: str, message: Dict[str, Any], list_label: str = "Choose") -> List[Dict[str, Any]]:
    """The Cloud API bodies for one Rasa bot message (text, buttons, image, custom payload)."""
    custom = message.get("custom")
    if isinstance(custom, dict) and custom.get("type"):
        return [{"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, **custom}]
    text = message.get("text") or ""
    buttons = message.get("buttons") or []
    image = message.get("image")
    if image:
        # A short text without buttons is the image's caption; otherwise the image comes first
        # and the text (with its buttons) after it, as Rasa's other channels order them.
        if not buttons and len(text) <= CAPTION_MAX:
            return [image_body(to, str(image), text)]
        return [image_body(to, str(image))] + message_bodies(to, {"text": text, "buttons": buttons}, list_label)
    if not buttons:
        return [text_body(to, part) for part in split_text(text)] if text else []
    parts = split_text(text, INTERACTIVE_BODY_MAX)
    # The last piece carries the buttons; earlier pieces go as plain text before it.
    return [text_body(to, p) for p in parts[:-1]] + [buttons_body(to, parts[-1] or " ", buttons, list_label)]


# ----- what Meta rejects --------------------------------------------------------------------

def _error(message: str, details: str, code: int = 131009) -> Dict[str, Any]:
    """Meta's error shape (Graph API)."""
    return {"error": {
        "message": f"(#{code}) {message}",
        "type": "OAuthException",
        "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": details},
        "fbtrace_id": "sandbox",
    }}


_TOP_FIELDS = {"messaging_product", "recipient_type", "to", "type", "text", "interactive", "template",
               "image", "audio", "document", "video", "sticker", "location", "contacts", "reaction",
               "context", "status", "message_id", "typing_indicator", "biz_opaque_callback_data"}


def validate_body(body: Any) -> Optional[Dict[str, Any]]:
    """None when the Cloud API would accept ``body``, else the error it would answer."""
    if not isinstance(body, dict):
        return _error("Parameter value is not valid", "Request body must be a JSON object", 100)
    unknown = set(body) - _TOP_FIELDS
    if unknown:
        return _error("Invalid parameter", f"Unexpected key(s): {', '.join(sorted(unknown))}", 100)
    if body.get("messaging_product") != "whatsapp":
        return _error("Invalid parameter", "messaging_product must be whatsapp", 100)
    if body.get("status") == "read":
        return None if body.get("message_id") else _error("Invalid parameter", "message_id is required", 100)
    if not body.get("to"):
        return _error("Invalid parameter", "Parameter 'to' is required", 100)
    kind = body.get("type", "text")
    if kind == "text":
        text = (body.get("text") or {}).get("body")
        if not isinstance(text, str) or not text:
            return _error("Parameter value is not valid", "text.body is required")
        if len(text) > TEXT_MAX:
            return _error("Parameter value is not valid", f"text.body is longer than {TEXT_MAX} characters")
        return None
    if kind == "interactive":
        return _validate_interactive(body.get("interactive") or {})
    if kind == "template":
        return _validate_template(body.get("template"))
    if kind in _MEDIA_FIELDS:
        return _validate_media(kind, body.get(kind))
    if kind in ("location", "reaction"):
        return None if isinstance(body.get(kind), dict) else _error("Invalid parameter", f"{kind} object is required", 100)
    return _error("Invalid parameter", f"Unsupported message type {kind}", 100)


#: The fields of each kind of media object (by id from an upload, or by an http(s) link).
_MEDIA_FIELDS = {"image": {"id", "link", "caption"}, "video": {"id", "link", "caption"},
                 "document": {"id", "link", "caption", "filename"}, "audio": {"id", "link"}, "sticker": {"id", "link"}}


def _validate_media(kind: str, media: Any) -> Optional[Dict[str, Any]]:
    if not isinstance(media, dict):
        return _error("Invalid parameter", f"{kind} object is required", 100)
    unknown = set(media) - _MEDIA_FIELDS[kind]
    if unknown:
        return _error("Invalid parameter", f"Unexpected key(s): {kind}.{', {kind}.'.join(sorted(unknown))}", 100)
    if bool(media.get("id")) == bool(media.get("link")):
        return _error("Invalid parameter", f"{kind} requires exactly one of id or link", 100)
    if media.get("link") and not re.match(r"https?://[^\s/]+\.[^\s]+$", str(media["link"])):
        return _error("Parameter value is not valid", f"{kind}.link is not a valid http(s) URL", 131009)
    if len(str(media.get("caption") or "")) > CAPTION_MAX:
        return _error("Parameter value is not valid", f"{kind}.caption is longer than {CAPTION_MAX} characters")
    return None


def _validate_template(template: Any) -> Optional[Dict[str, Any]]:
    if not isinstance(template, dict) or not isinstance(template.get("name"), str) or not template["name"]:
        return _error("Invalid parameter", "template.name is required", 100)
    if not isinstance((template.get("language") or {}).get("code"), str):
        return _error("Invalid parameter", "template.language.code is required", 100)
    unknown = set(template) - {"name", "language", "components", "namespace"}
    if unknown:
        return _error("Invalid parameter", f"Unexpected key(s): template.{', template.'.join(sorted(unknown))}", 100)
    for component in template.get("components") or []:
        for parameter in (component or {}).get("parameters") or []:
            if parameter.get("type") == "text" and not str(parameter.get("text") or "").strip():
                return _error("Parameter value is not valid", "Template parameter text is empty", 131008)
    return None


def _validate_interactive(interactive: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    body = (interactive.get("body") or {}).get("text") or ""
    if not body:
        return _error("Parameter value is not valid", "interactive.body.text is required")
    if len(body) > INTERACTIVE_BODY_MAX:
        return _error("Parameter value is not valid", f"Body text is longer than {INTERACTIVE_BODY_MAX} characters")
    action = interactive.get("action") or {}
    if interactive.get("type") == "button":
        buttons = action.get("buttons") or []
        if not 1 <= len(buttons) <= BUTTONS_MAX:
            return _error("Parameter value is not valid", f"Buttons count must be 1 to {BUTTONS_MAX}")
        ids = set()
        for b in buttons:
            reply = (b or {}).get("reply") or {}
            title, bid = reply.get("title") or "", reply.get("id") or ""
            if not title or len(title) > BUTTON_TITLE_MAX:
                return _error("Parameter value is not valid", f"Button title length must be 1 to {BUTTON_TITLE_MAX}")
            if not bid or len(bid) > BUTTON_ID_MAX or bid in ids:
                return _error("Parameter value is not valid", "Button ids must be unique, 1 to 256 characters")
            ids.add(bid)
        return None
    if interactive.get("type") == "list":
        label = action.get("button") or ""
        if not label or len(label) > LIST_BUTTON_MAX:
            return _error("Parameter value is not valid", f"List button label length must be 1 to {LIST_BUTTON_MAX}")
        rows = [r for s in action.get("sections") or [] for r in (s or {}).get("rows") or []]
        if not 1 <= len(rows) <= LIST_ROWS_MAX:
            return _error("Parameter value is not valid", f"Total row count must be 1 to {LIST_ROWS_MAX}")
        ids = set()
        for r in rows:
            title, rid = r.get("title") or "", r.get("id") or ""
            if not title or len(title) > LIST_ROW_TITLE_MAX:
                return _error("Parameter value is not valid", f"Row title length must be 1 to {LIST_ROW_TITLE_MAX}")
            if not rid or len(rid) > LIST_ROW_ID_MAX or rid in ids:
                return _error("Parameter value is not valid", "Row ids must be unique, 1 to 200 characters")
            if len(r.get("description") or "") > LIST_ROW_DESCRIPTION_MAX:
                return _error("Parameter value is not valid", "Row description is too long")
            ids.add(rid)
        return None
    return _error("Invalid parameter", "interactive.type must be button or list", 100)


def dumps(body: Dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
