"""Phone numbers typed by patients and doctors: validated and stored in E.164 (phonenumbers)."""
from __future__ import annotations

import re
from typing import Optional

import phonenumbers

from telehealth.text import normalize

DEFAULT_REGION = "PK"
_CANDIDATE = re.compile(r"\+?\d[\d\s().-]{5,}\d")


def parse_phone(text: str, region: str = DEFAULT_REGION) -> Optional[str]:
    """The E.164 form of a valid number in ``text`` ("0300 1234567", "۰۳۰۰۱۲۳۴۵۶۷", "+44 7700 900123",
    "923001234567"), or None. Numbers without a country code are read as Pakistani."""
    if not text:
        return None
    plain = normalize(text)  # digits of any script to ASCII
    for match in _CANDIDATE.finditer(plain):
        raw = match.group(0)
        for attempt in (raw, "+" + raw if not raw.startswith("+") and raw.startswith("92") else None):
            if not attempt:
                continue
            try:
                number = phonenumbers.parse(attempt, region)
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number(number):
                return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return None


def wa_id_to_e164(wa_id: str) -> Optional[str]:
    """A WhatsApp id is the number with its country code and no "+"; None when it is not a number."""
    if not wa_id or not wa_id.isdigit():
        return None
    return parse_phone("+" + wa_id)


def display(e164: str) -> str:
    """A number as people read it ("+92 300 1234567")."""
    try:
        return phonenumbers.format_number(phonenumbers.parse(e164, None), phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    except phonenumbers.NumberParseException:
        return e164


def digits(e164: str) -> str:
    """For wa.me links: the number without "+"."""
    return e164.lstrip("+")
