"""Text normalisation applied before NLU (and before any matching of user text).

Pakistani users type in three digit systems, with Arabic or Persian letter variants,
zero-width joiners, tatweel and optional vowel marks. Normalising both the training
data and every incoming message makes "۳", "٣" and "3" or "كرونا" and "کرونا" the same
to the classifiers. The user's original text is kept by the caller for display.
"""
from __future__ import annotations

import re
import unicodedata

#: Longest text handed to NLU; the rest of a huge message carries no extra intent.
MAX_NLU_CHARS = 1000

_DIGITS = str.maketrans(
    "٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹",  # Arabic-Indic, then Extended Arabic-Indic (Urdu/Persian)
    "01234567890123456789",
)

_LETTERS = str.maketrans(
    {
        "ي": "ی",  # Arabic yeh -> Farsi/Urdu yeh
        "ى": "ی",  # alef maksura -> yeh
        "ك": "ک",  # Arabic kaf -> keheh
        "ه": "ہ",  # Arabic heh -> heh goal (Urdu)
        "ة": "ہ",  # teh marbuta
        "ۀ": "ۂ",  # heh with yeh above, Persian form -> Urdu form
        "ـ": None,  # tatweel (kashida)
        "\u200b": None,  # zero-width space
        "\u200c": None,  # zero-width non-joiner
        "\u200d": None,  # zero-width joiner
        "\u200e": None,  # left-to-right mark
        "\u200f": None,  # right-to-left mark
        "\u2060": None,  # word joiner
        "\ufeff": None,  # byte-order mark / zero-width no-break space
        "\u061c": None,  # Arabic letter mark
        "\u2019": "'",  # right single quotation mark (phones type "can’t")
        "\u2018": "'",
        "\u02bc": "'",  # modifier letter apostrophe
    }
)

# Optional Arabic-script vowel marks (harakat, superscript alef): writers mostly omit them.
_MARKS = re.compile("[\u064b-\u0652\u0670]")
# Latin letters repeated for emphasis: "bukhaaaar" -> "bukhaar", "heyyyy" -> "heyy".
_REPEATS = re.compile(r"([a-z])\1{2,}")
_SPACES = re.compile(r"\s+")
# Digits glued to letters: "3din", "۳دن", "45saal" -> "3 din" (after digits are made ASCII).
_GLUED = re.compile(r"(?<=\d)(?=[^\W\d_])|(?<=[^\W\d_])(?=\d)")


def normalize(text: str | None) -> str:
    """Return the canonical form of ``text`` used for NLU and matching."""
    if not text:
        return ""
    # NFKC folds Arabic presentation forms and full-width Latin into base letters.
    text = unicodedata.normalize("NFKC", text)
    text = text.translate(_DIGITS).translate(_LETTERS)
    text = _MARKS.sub("", text)
    text = text.lower()
    text = _REPEATS.sub(r"\1\1", text)
    text = _GLUED.sub(" ", text)
    text = _SPACES.sub(" ", text).strip()
    return text[:MAX_NLU_CHARS]


_ARABIC_SCRIPT = re.compile("[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff]")
_LATIN = re.compile("[A-Za-z]")


def dominant_script(text: str) -> str | None:
    """``"arabic"``, ``"latin"`` or ``None`` (no letters of either: emoji, digits, other scripts)."""
    arabic = len(_ARABIC_SCRIPT.findall(text))
    latin = len(_LATIN.findall(text))
    if arabic == 0 and latin == 0:
        return None
    return "arabic" if arabic >= latin else "latin"


def has_words(text: str) -> bool:
    """True when the text has at least one letter of any script (not only emoji or punctuation)."""
    return any(unicodedata.category(ch).startswith("L") for ch in text)


# For matching words against the symptom lexicons only: every optional mark, Kashmiri's vowel
# signs included, and Kashmiri's vowel letters written as the plain letter an Urdu keyboard
# gives. NLU keeps them (they help tell Kashmiri from Urdu); a lexicon phrase should match
# however the user wrote it ("چھُ نہٕ" = "چھ نہ", "دۄد" = "دود").
_ALL_MARKS = re.compile("[\u0653-\u065f]")
_PLAIN_LETTERS = str.maketrans({"\u06c4": "\u0648", "\u0672": "\u0627", "\u0673": "\u0627"})


def match_form(text: str | None) -> str:
    """``normalize(text)`` without any Arabic-script mark and with Kashmiri vowel letters plain."""
    return _ALL_MARKS.sub("", normalize(text)).translate(_PLAIN_LETTERS)


def match_form_positions(normal: str) -> tuple[str, list[int]]:
    """``match_form`` of an already normalised text, and for each of its characters the index
    of that character in ``normal`` (marks are only dropped, letters replaced one for one), so
    what is found in the match form can be pointed at in the normalised text."""
    kept = [i for i, ch in enumerate(normal) if not _ALL_MARKS.match(ch)]
    return "".join(normal[i] for i in kept).translate(_PLAIN_LETTERS), kept

