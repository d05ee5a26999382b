"""Locales and the per-locale response catalogs.

Translators work on one file per locale, ``locales/<tag>.yml``. Rasa only combines
variations of a response when they sit in one file (see docs/rasa.md), so
``build_responses`` merges the catalogs into ``data/responses.yml``: English is the
default variation, every other locale a variation conditioned on the ``language`` slot.
``make train`` rebuilds that file and a test fails when it is out of date.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from telehealth.text import normalize

ROOT = Path(__file__).resolve().parent.parent
LOCALES_DIR = ROOT / "locales"
RESPONSES_FILE = ROOT / "data" / "responses.yml"

SOURCE_LOCALE = "en"
#: BCP 47 tags, in the order of the language menu.
LOCALES = ("en", "ur", "ur-Latn", "pa", "ps", "sd", "bal", "ks")

#: WhatsApp interactive limits (characters).
BUTTON_TITLE_MAX = 20
LIST_ROW_TITLE_MAX = 24
TEXT_MAX = 4096

REVIEW_STATES = ("reviewed", "machine-drafted")

# What users type to name a language, in any locale (compared after normalisation).
_LANGUAGE_NAMES: dict[str, tuple[str, ...]] = {
    "en": ("english", "eng", "angrezi", "angraizi", "inglish", "انگریزی", "انگلش", "انګلیسي", "انگريزي"),
    "ur": ("urdu", "urdoo", "اردو", "urdu script"),
    "ur-Latn": ("roman urdu", "roman", "urdu in english", "english urdu", "رومن اردو", "roman urdoo"),
    "pa": ("punjabi", "panjabi", "punjaabi", "پنجابی", "پنجابي"),
    "ps": ("pashto", "pushto", "pashtu", "pakhto", "پشتو", "پښتو", "پختو"),
    "sd": ("sindhi", "sindi", "سندھی", "سنڌي", "سندهی", "سندی"),
    "bal": ("balochi", "baluchi", "balochi zaban", "بلوچی", "بلوچي"),
    "ks": ("kashmiri", "kashmiri zaban", "کشمیری", "کٲشُر", "کاشر", "کٲشر", "كشميري"),
}


def resolve_language(text: str | None) -> str | None:
    """The locale a user names in ``text`` ("urdu please", "پښتو", "roman urdu"), or None.

    Longer names win, so "roman urdu" is Roman Urdu, not Urdu.
    """
    if not text:
        return None
    by_tag = {tag.lower(): tag for tag in LOCALES}
    if text.strip().lower() in by_tag:
        return by_tag[text.strip().lower()]
    norm = normalize(text)
    best: tuple[int, str] | None = None
    for tag, names in _LANGUAGE_NAMES.items():
        for name in names:
            pattern = r"(?<!\w)" + re.escape(normalize(name)) + r"(?!\w)"
            if re.search(pattern, norm) and (best is None or len(name) > best[0]):
                best = (len(name), tag)
    return best[1] if best else None


@dataclass(frozen=True)
class Catalog:
    locale: str
    name: str
    review: str
    reviewed_by: str | None
    responses: dict[str, list[dict[str, Any]]]
    #: Words the actions compose into answers (symptom names, reasons), not responses themselves.
    terms: dict[str, str] = field(default_factory=dict)


def load_catalog(locale: str, directory: Path = LOCALES_DIR) -> Catalog:
    data = yaml.safe_load((directory / f"{locale}.yml").read_text(encoding="utf-8"))
    meta = data.get("meta") or {}
    return Catalog(
        locale=meta.get("locale", locale),
        name=meta.get("name", locale),
        review=meta.get("review", "machine-drafted"),
        reviewed_by=meta.get("reviewed_by"),
        responses=data.get("responses") or {},
        terms={str(k): str(v) for k, v in (data.get("terms") or {}).items()},
    )


@lru_cache(maxsize=None)
def catalogs() -> dict[str, Catalog]:
    return {tag: load_catalog(tag) for tag in LOCALES}


def render(key: str, locale: str | None) -> str:
    """The text of response ``key`` in ``locale`` (English when the locale lacks it)."""
    table = catalogs()
    cat = table.get(locale or SOURCE_LOCALE) or table[SOURCE_LOCALE]
    variants = cat.responses.get(key) or table[SOURCE_LOCALE].responses[key]
    return variants[0]["text"]


def fill(text: str, params: dict[str, Any]) -> str:
    """``{name}`` placeholders filled from ``params`` (other braces are left alone)."""
    return _PLACEHOLDER.sub(lambda m: str(params.get(m.group(1), m.group(0))), text)


def message(key: str, locale: str | None, **params: Any) -> dict[str, Any]:
    """Response ``key`` in ``locale`` as a bot message (text and buttons), placeholders filled:
    what the system sends on its own (notifications), in the same words Rasa would use."""
    table = catalogs()
    cat = table.get(locale or SOURCE_LOCALE) or table[SOURCE_LOCALE]
    variant = (cat.responses.get(key) or table[SOURCE_LOCALE].responses[key])[0]
    out: dict[str, Any] = {"text": fill(variant["text"], params)}
    if variant.get("buttons"):
        out["buttons"] = [{"title": b["title"], "payload": b["payload"]} for b in variant["buttons"]]
    return out


# ----- the doctors' portal (English and Urdu) --------------------------------------------------
PORTAL_DIR = LOCALES_DIR / "portal"
PORTAL_LOCALES = ("en", "ur")


@lru_cache(maxsize=None)
def portal_catalog(locale: str) -> dict[str, str]:
    data = yaml.safe_load((PORTAL_DIR / f"{locale}.yml").read_text(encoding="utf-8")) or {}
    return {str(k): str(v) for k, v in (data.get("messages") or {}).items()}


def portal_text(key: str, locale: str | None, **params: Any) -> str:
    """A portal string (pages and doctors' notifications) in ``locale`` (English when missing)."""
    cat = portal_catalog(locale if locale in PORTAL_LOCALES else "en")
    return fill(cat.get(key) or portal_catalog("en")[key], params)


def term(key: str, locale: str | None) -> str:
    """A word or phrase of the ``terms`` section in ``locale`` (English when the locale lacks it)."""
    table = catalogs()
    cat = table.get(locale or SOURCE_LOCALE) or table[SOURCE_LOCALE]
    return cat.terms.get(key) or table[SOURCE_LOCALE].terms[key]


_PLACEHOLDER = re.compile(r"(?<!\{)\{(\w+)\}(?!\})")


def placeholders(text: str) -> set[str]:
    """The ``{name}`` placeholders the actions fill in a text."""
    return set(_PLACEHOLDER.findall(text or ""))


def catalog_problems(directory: Path = LOCALES_DIR) -> list[str]:
    """Everything a translator must fix before the catalogs can ship; empty when all is well."""
    problems: list[str] = []
    source = load_catalog(SOURCE_LOCALE, directory)
    for tag in LOCALES:
        path = directory / f"{tag}.yml"
        if not path.exists():
            problems.append(f"{tag}: catalog {path.name} is missing")
            continue
        cat = load_catalog(tag, directory)
        if cat.locale != tag:
            problems.append(f"{tag}: meta.locale says {cat.locale!r}")
        if cat.review not in REVIEW_STATES:
            problems.append(f"{tag}: meta.review must be one of {REVIEW_STATES}, not {cat.review!r}")
        for key, src_variants in source.responses.items():
            variants = cat.responses.get(key)
            if not variants:
                problems.append(f"{tag}: response {key} is missing")
                continue
            for src, var in zip(src_variants, variants):
                text = (var.get("text") or "").strip()
                if not text:
                    problems.append(f"{tag}: {key} has an empty text")
                elif placeholders(text) != placeholders(src.get("text", "")):
                    problems.append(
                        f"{tag}: {key} placeholders {sorted(placeholders(text))} differ from English "
                        f"{sorted(placeholders(src.get('text', '')))}"
                    )
                elif len(text) > TEXT_MAX:
                    problems.append(f"{tag}: {key} is {len(text)} characters (max {TEXT_MAX})")
                src_payloads = [b["payload"] for b in src.get("buttons", [])]
                payloads = [b.get("payload") for b in var.get("buttons", [])]
                if payloads != src_payloads:
                    problems.append(f"{tag}: {key} buttons differ from English (payloads or count)")
                for button in var.get("buttons", []):
                    title = (button.get("title") or "").strip()
                    if not title:
                        problems.append(f"{tag}: {key} has a button without title")
                    elif len(title) > BUTTON_TITLE_MAX:
                        problems.append(
                            f"{tag}: {key} button {title!r} is {len(title)} characters "
                            f"(WhatsApp allows {BUTTON_TITLE_MAX})"
                        )
        for key in cat.responses:
            if key not in source.responses:
                problems.append(f"{tag}: response {key} is not in the English source")
        for key, src_text in source.terms.items():
            text = cat.terms.get(key, "")
            if not text.strip():
                problems.append(f"{tag}: term {key} is missing or empty")
            elif placeholders(text) != placeholders(src_text):
                problems.append(f"{tag}: term {key} placeholders differ from English")
        for key in cat.terms:
            if key not in source.terms:
                problems.append(f"{tag}: term {key} is not in the English source")
    return problems


def build_responses(directory: Path = LOCALES_DIR) -> dict[str, Any]:
    """Merge the catalogs into one Rasa responses document (all variations of a response together)."""
    cats = {tag: load_catalog(tag, directory) for tag in LOCALES}
    source = cats[SOURCE_LOCALE]
    responses: dict[str, list[dict[str, Any]]] = {}
    for key in source.responses:
        variations: list[dict[str, Any]] = []
        for tag in LOCALES:
            for variant in cats[tag].responses.get(key, []):
                variant = {k: v for k, v in variant.items() if k != "condition"}
                if "buttons" in variant:
                    variant["buttons"] = [
                        {**b, "payload": _escape_braces(b["payload"])} for b in variant["buttons"]
                    ]
                if tag != SOURCE_LOCALE:
                    variant["condition"] = [{"type": "slot", "name": "language", "value": tag}]
                variations.append(variant)
        # Rasa picks a conditioned variation when one matches, else an unconditioned one:
        # list the conditioned ones first so the file reads locale by locale.
        responses[key] = variations[1:] + variations[:1]
    for key in list(responses):
        if key.startswith("utter_ask_") and f"{key}{OTHER_SUFFIX}" in responses:
            responses[key] = _worded_for_whom(responses[key], responses[f"{key}{OTHER_SUFFIX}"])
    return {"version": "3.1", "responses": responses}


#: A form question worded for someone else ("Do they have a fever?") is ``<key>_other``.
OTHER_SUFFIX = "_other"
FOR_WHOM_SLOT = "for_whom"


def _worded_for_whom(own: list[dict[str, Any]], other: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One response whose variations are conditioned on the language and on ``for_whom``, so that
    Rasa itself asks a form's question for "you" or "they" (no custom action, no remote call).

    Rasa chooses at random among all variations whose conditions match, so the conditions must
    exclude each other: in each locale the "they" wording needs ``for_whom: other`` and the "you"
    wording ``for_whom: self`` or unset; English, the unconditioned default, gets "they" under
    ``language: en`` or unset."""

    def language_of(variant: dict[str, Any]) -> str:
        return next((c["value"] for c in variant.get("condition", []) if c["name"] == "language"), SOURCE_LOCALE)

    def when(variant: dict[str, Any], language: Any, whom: Any) -> dict[str, Any]:
        return {**{k: v for k, v in variant.items() if k != "condition"},
                "condition": [{"type": "slot", "name": "language", "value": language},
                              {"type": "slot", "name": FOR_WHOM_SLOT, "value": whom}]}

    merged: list[dict[str, Any]] = []
    for tag in LOCALES:
        own_variants = [v for v in own if language_of(v) == tag]
        other_variants = [v for v in other if language_of(v) == tag]
        if tag == SOURCE_LOCALE:
            merged += [when(v, language, "other") for v in other_variants for language in (tag, None)]
        else:
            merged += [when(v, tag, "other") for v in other_variants]
            merged += [when(v, tag, whom) for v in own_variants for whom in ("self", None)]
    # English "you", unconditioned: what Rasa says when no condition matches
    return merged + [v for v in own if "condition" not in v]


def _escape_braces(payload: str) -> str:
    """Rasa fills ``{slot}`` placeholders in responses; ``{{``/``}}`` keep a payload's JSON literal."""
    return payload.replace("{", "{{").replace("}", "}}")


_HEADER = (
    "# GENERATED from locales/*.yml by `make responses` (python -m telehealth.i18n).\n"
    "# Do not edit: change the locale catalogs instead.\n"
)


def render_responses_file(directory: Path = LOCALES_DIR) -> str:
    body = yaml.safe_dump(build_responses(directory), allow_unicode=True, sort_keys=False, width=10_000)
    return _HEADER + body


def main() -> int:
    problems = catalog_problems()
    for p in problems:
        print(f"locale problem: {p}")
    RESPONSES_FILE.write_text(render_responses_file(), encoding="utf-8")
    print(f"wrote {RESPONSES_FILE.relative_to(ROOT)} from {len(LOCALES)} catalogs")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
