"""Free-text understanding for the screening: symptoms (and their negation), durations, ages,
whom the user speaks of, conditions, and yes/no answers, in all eight locales.

Built on spaCy: a blank Urdu pipeline tokenises Perso-Arabic text and a blank multilingual one
Latin text; one ``PhraseMatcher`` per pipeline holds the per-locale lexicons
(``telehealth/lexicons/<tag>.yml``) of every locale at once, because people code-mix ("mujhe
fever hai", "مجھے fever ہے"). Text is normalised first (``telehealth.text.match_form``: the NLU normaliser, marks dropped), the same
as NLU sees it. Overlapping matches resolve to the longest, so "saans nahi aa rahi" (cannot
breathe) is one phrase and not "breathing" plus a negation. A word that matches nothing but is
one letter away from a symptom word of five letters or more counts as that word ("feaver",
"khansii"), in Latin script only.

Negation: a cue before a symptom ("no fever", "na bukhar") negates the next symptom within three
words; a cue after it ("bukhar nahi hai", "تبه نه لرم") the previous one. Either spreads over a
list joined by "and"/"or" ("bukhar aur khansi nahi") and stops at "but" or punctuation. A
symptom in a yes/no question ("kya bukhar corona ki nishani hai?") is not a report. Filler words
of the lexicons ("bhi", "bohat", "very", "سخ") are skipped, in the text and in the phrases alike.

The Rasa component (``telehealth.nlu.components.SymptomExtractor``) and the screening actions
both call ``extract``; this module has no Rasa imports.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Dict, FrozenSet, Iterable, List, Optional, Tuple

import spacy
import yaml
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc

from telehealth.text import dominant_script, match_form, match_form_positions, normalize
from telehealth.triage import ALL_SYMPTOMS, COMORBIDITIES, WARNING_SIGNS

LEXICON_DIR = Path(__file__).resolve().parent / "lexicons"

UNIT_DAYS = {"day": 1, "week": 7, "month": 30}
NEGATION_WINDOW = 3  # words allowed between a negation cue and its symptom
FUZZY_MIN_LENGTH = 5   # lexicon words this long may be matched one letter off…
FUZZY_MIN_TOKEN = 6    # …by a typed word at least this long ("never" is not "fever")
MAX_AGE = 120
MAX_DAYS = 365

# Digits glued to a word: "3din", "۳دن", "45saal" -> "3 din".
_COMMAS = {",", "،", "/", "&", "+"}
_QUESTION_MARKS = {"?", "؟"}


@dataclass(frozen=True)
class Extraction:
    symptoms: FrozenSet[str] = frozenset()       # present
    absent: FrozenSet[str] = frozenset()         # explicitly denied
    warning: FrozenSet[str] = frozenset()        # emergency warning signs present
    days: Optional[int] = None
    age: Optional[int] = None
    for_whom: Optional[str] = None               # "self" | "other"
    comorbidities: FrozenSet[str] = frozenset()
    spans: Tuple[Tuple[int, int, str, str], ...] = field(default=(), compare=False)  # (start, end, entity, value)

    @property
    def anything(self) -> bool:
        return bool(self.symptoms or self.absent or self.warning or self.days is not None or self.age is not None)


@dataclass(frozen=True)
class _Item:
    kinds: FrozenSet[str]   # labels such as "SYM:fever", "NEG_A", "NUM:3", "UNIT:day"
    start: int              # token index
    end: int
    char_start: int
    char_end: int

    def values(self, prefix: str) -> List[str]:
        return sorted(k.split(":", 1)[1] for k in self.kinds if k.startswith(prefix + ":"))

    def has(self, kind: str) -> bool:
        return kind in self.kinds


class Lexicon:
    """The lexicons of all locales, compiled into spaCy matchers."""

    def __init__(self, directory: Path = LEXICON_DIR) -> None:
        self.phrases: Dict[str, set] = {}
        self.numbers: Dict[str, int] = {}
        self.locales: List[str] = []
        self.fillers: set = set()
        self.question_words: set = set()
        #: answers to the doctor call-back questions: choice name -> phrases (all locales)
        self.choices: Dict[str, set] = {}
        for path in sorted(directory.glob("*.yml")):
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            self.locales.append(data.get("locale", path.stem))
            self._load(data)
        self.pipelines = {"latin": spacy.blank("xx"), "arabic": spacy.blank("ur")}
        self.matchers = {}
        self.fuzzy_words: Dict[str, Dict[str, List[str]]] = {}
        self.raw_matchers = {}
        for script, nlp in self.pipelines.items():
            matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
            raw: Dict[str, list] = {}
            fuzzy: Dict[str, List[str]] = {}
            for label, phrases in self.phrases.items():
                docs = []
                for phrase in sorted(phrases):
                    full = nlp.make_doc(phrase)
                    doc = self.without_fillers(full)[0]
                    # "very sleepy" without "very" is just "sleepy", "bohat mushkil" just
                    # "mushkil": a warning phrase keeps its fillers and is matched as written.
                    if label.startswith("WARN:") and len(doc) < len(full):
                        raw.setdefault(label, []).append(full)
                        continue
                    docs.append(doc)
                matcher.add(label, [d for d in docs if len(d)])
                if label.startswith(("SYM:", "WARN:")):
                    for d in docs:
                        if len(d) == 1 and len(d.text) >= FUZZY_MIN_LENGTH:
                            fuzzy.setdefault(d.text, []).append(label)
            self.matchers[script] = matcher
            # Warning phrases with fillers ("very drowsy") are matched on the text as written.
            self.raw_matchers[script] = PhraseMatcher(nlp.vocab, attr="LOWER")
            for label, raw_docs in raw.items():
                self.raw_matchers[script].add(label, raw_docs)
            self.fuzzy_words[script] = fuzzy

    def without_fillers(self, doc: Doc) -> Tuple[Doc, List[int]]:
        """``doc`` without filler words, and the index in ``doc`` of each token kept."""
        kept = [t.i for t in doc if t.lower_ not in self.fillers]
        if len(kept) == len(doc):
            return doc, kept
        words = [doc[i].text for i in kept]
        return Doc(doc.vocab, words=words, spaces=[True] * len(words)), kept

    def _add(self, label: str, phrases: Iterable) -> None:
        for p in phrases or ():
            text = match_form(str(p))
            if text:
                self.phrases.setdefault(label, set()).add(text)

    def _load(self, data: dict) -> None:
        for name, phrases in (data.get("symptoms") or {}).items():
            if name in ALL_SYMPTOMS:
                self._add(f"SYM:{name}", phrases)
        for name, phrases in (data.get("warning_signs") or {}).items():
            if name in WARNING_SIGNS:
                self._add(f"WARN:{name}", phrases)
        neg = data.get("negation") or {}
        self._add("NEG_B", neg.get("before"))
        self._add("NEG_A", neg.get("after"))
        self._add("CONJ", data.get("conjunctions"))
        self._add("BREAK", data.get("clause_breaks"))
        for word, value in (data.get("numbers") or {}).items():
            word = match_form(str(word))
            if word and isinstance(value, int):
                self.numbers[word] = value
                self._add(f"NUM:{value}", [word])
        for unit, phrases in (data.get("units") or {}).items():
            if unit in ("day", "week", "month", "year"):
                self._add(f"UNIT:{unit}", phrases)
        for phrase, value in (data.get("relative_days") or {}).items():
            if isinstance(value, int):
                self._add(f"REL:{value}", [phrase])
        self._add("AGE", data.get("age_markers"))
        # YAML 1.1 reads unquoted yes/no keys as booleans: accept both spellings.
        self._add("YES", data.get("yes") or data.get(True))
        self._add("NO", data.get("no") or data.get(False))
        for key in ("unsure", "self", "other"):
            self._add(key.upper(), data.get(key))
        for name, phrases in (data.get("comorbidities") or {}).items():
            if name in COMORBIDITIES:
                self._add(f"COM:{name}", phrases)
        self.fillers |= {match_form(str(w)) for w in data.get("fillers") or () if " " not in match_form(str(w))}
        self.question_words |= {match_form(str(w)) for w in data.get("question_words") or ()}
        for name, phrases in (data.get("consult_choices") or {}).items():
            self.choices.setdefault(str(name), set()).update(
                match_form(str(p)) for p in phrases or () if match_form(str(p)))


@lru_cache(maxsize=1)
def lexicon() -> Lexicon:
    return Lexicon()


def _within_one_edit(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` differ by at most one insertion, deletion, substitution or swap."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la == lb:
        diff = [i for i in range(la) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
    if la > lb:
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i:] == b[i + 1:]


@dataclass(frozen=True)
class _Prepared:
    normal: str           # the text as NLU sees it (``normalize``): offsets point into it
    form: str             # what the lexicons are matched against (``match_form``)
    positions: List[int]  # index in ``normal`` of each character of ``form``


def _prepare(text: str) -> _Prepared:
    normal = normalize(text)
    form, positions = match_form_positions(normal)
    return _Prepared(normal, form, positions)


def _items(prepared: _Prepared, lex: Lexicon) -> Tuple[Doc, List[_Item]]:
    """Matched items in word order. Positions count words without fillers; offsets are the
    normalised text's."""
    text = prepared.form
    script = dominant_script(text) or "latin"
    nlp, matcher = lex.pipelines[script], lex.matchers[script]
    original = nlp.make_doc(text)
    doc, kept = lex.without_fillers(original)

    def offsets(start: int, end: int) -> Tuple[int, int]:
        first, last = original[kept[start]], original[kept[end - 1]]
        after = last.idx + len(last)  # the marks written after the last letter belong to the span
        end = prepared.positions[after] if after < len(prepared.positions) else len(prepared.normal)
        return prepared.positions[first.idx], end

    by_span: Dict[Tuple[int, int], set] = {}
    for match_id, start, end in matcher(doc):
        by_span.setdefault((start, end), set()).add(nlp.vocab.strings[match_id])
    if len(kept) != len(original):
        position = {orig: i for i, orig in enumerate(kept)}
        for match_id, start, end in lex.raw_matchers[script](original):
            inside = [position[i] for i in range(start, end) if i in position]
            if inside:
                by_span.setdefault((inside[0], inside[-1] + 1), set()).add(nlp.vocab.strings[match_id])
    # Longest spans first; an overlapped shorter span is dropped.
    taken = [False] * len(doc)
    items: List[_Item] = []
    for (start, end), labels in sorted(by_span.items(), key=lambda kv: (-(kv[0][1] - kv[0][0]), kv[0][0])):
        if any(taken[start:end]):
            continue
        for i in range(start, end):
            taken[i] = True
        items.append(_Item(frozenset(labels), start, end, *offsets(start, end)))
    fuzzy = lex.fuzzy_words[script]
    for tok in doc:
        if taken[tok.i]:
            continue
        if tok.text.isdigit():
            items.append(_Item(frozenset({f"NUM:{int(tok.text)}"}), tok.i, tok.i + 1, *offsets(tok.i, tok.i + 1)))
        elif tok.is_punct or tok.text in _QUESTION_MARKS:
            kind = "COMMA" if tok.text in _COMMAS else "QMARK" if tok.text in _QUESTION_MARKS else "PUNCT"
            items.append(_Item(frozenset({kind}), tok.i, tok.i + 1, *offsets(tok.i, tok.i + 1)))
        elif tok.lower_ in lex.question_words:
            items.append(_Item(frozenset({"QWORD"}), tok.i, tok.i + 1, *offsets(tok.i, tok.i + 1)))
        elif script == "latin" and len(tok.text) >= FUZZY_MIN_TOKEN:
            # Only Latin script: in Perso-Arabic script one letter often makes another word
            # (کھانس / کھانا), so guessing there costs more than it finds.
            labels = {label for word, ls in fuzzy.items() if _within_one_edit(tok.text, word) for label in ls}
            if labels:
                items.append(_Item(frozenset(labels), tok.i, tok.i + 1, *offsets(tok.i, tok.i + 1)))
    items.sort(key=lambda it: it.start)
    return doc, items


def _in_questions(items: List[_Item]) -> set:
    """Indexes of items inside a yes/no question: a sentence that starts with a question word
    ("kya", "کیا", "ایا", "ڇا", "is") and ends with a question mark."""
    inside: set = set()
    sentence: List[int] = []
    starts_with_question = False
    for i, it in enumerate(items):
        if it.has("QMARK") or it.has("PUNCT"):
            if it.has("QMARK") and starts_with_question:
                inside.update(sentence)
            sentence, starts_with_question = [], False
            continue
        if not sentence:
            first_word = it.start == _sentence_start(items, i)
            starts_with_question = first_word and it.has("QWORD")
        sentence.append(i)
    return inside


def _sentence_start(items: List[_Item], i: int) -> int:
    """Word index where the sentence of item ``i`` starts (after the last punctuation item)."""
    for j in range(i - 1, -1, -1):
        if items[j].has("QMARK") or items[j].has("PUNCT"):
            return items[j].end
    return 0


def _is_symptom(item: _Item) -> bool:
    """Symptoms, warning signs and conditions: what a negation can deny ("sugar nahi hai")."""
    return any(k.startswith(("SYM:", "WARN:", "COM:")) for k in item.kinds)


def _negated(items: List[_Item]) -> set:
    """Indexes (into ``items``) of symptom items that are negated."""
    negated: set = set()
    sym_idx = [i for i, it in enumerate(items) if _is_symptom(it)]

    def chain(i: int, step: int) -> None:
        # Spread a negation over symptoms joined only by conjunctions or commas, word by word.
        j, last = i + step, items[i]
        while 0 <= j < len(items):
            it = items[j]
            adjacent = it.start == last.end if step > 0 else it.end == last.start
            if not adjacent:
                break
            # Only a conjunction carries a negation on: a comma often ends a clause
            # ("no fever, cough yes"; "ہاٹ چھم دگ، تپ چھنہ").
            if it.has("CONJ"):
                last, j = it, j + step
                continue
            if _is_symptom(it):
                negated.add(j)
                last, j = it, j + step
                continue
            break

    for n, it in enumerate(items):
        if it.has("NEG_A"):
            before = [i for i in sym_idx if i < n]
            if before:
                i = before[-1]
                between = items[i + 1:n]
                gap = it.start - items[i].end
                if gap <= NEGATION_WINDOW and not any(b.has("BREAK") or b.has("PUNCT") or b.has("COMMA") for b in between):
                    if not any(b.has("NEG_A") for b in between):
                        negated.add(i)
                        chain(i, -1)
        both_ways = it.has("NEG_A") and _previous_symptom_close(items, n)
        if it.has("NEG_B") and (not both_ways or _next_symptom_close(items, n)):
            after = [i for i in sym_idx if i > n]
            if after:
                i = after[0]
                between = items[n + 1:i]
                gap = items[i].start - it.end
                if gap <= NEGATION_WINDOW and not any(b.has("BREAK") or b.has("PUNCT") or b.has("COMMA") for b in between):
                    negated.add(i)
                    chain(i, +1)
    return negated


def _previous_symptom_close(items: List[_Item], n: int) -> bool:
    """A cue that can go either way ("na") binds to a symptom right before it first."""
    for i in range(n - 1, -1, -1):
        if _is_symptom(items[i]):
            return items[n].start - items[i].end <= 1
        if items[i].has("PUNCT") or items[i].has("COMMA") or items[i].has("BREAK"):
            return False
    return False


def _next_symptom_close(items: List[_Item], n: int) -> bool:
    """"na bukhar na khansi": in the correlative pattern a two-way cue negates the next symptom too."""
    if not (n + 1 < len(items) and _is_symptom(items[n + 1]) and items[n + 1].start == items[n].end):
        return False
    prev = n - 1
    return (
        prev >= 1 and _is_symptom(items[prev]) and items[n].start - items[prev].end <= 1
        and items[prev - 1].has("NEG_B") and items[prev - 1].end == items[prev].start
    )


def _numbers_before(items: List[_Item], n: int) -> Optional[int]:
    """The number just before item ``n`` ("3 din", "twenty five years", "3-4 din" -> 4)."""
    if n == 0:
        return None
    prev = items[n - 1]
    if prev.end != items[n].start:
        return None
    values = prev.values("NUM")
    if not values:
        return None
    value = int(values[0])
    # "twenty five": a tens word then a unit word.
    if n >= 2 and items[n - 2].end == prev.start and value < 10:
        tens = items[n - 2].values("NUM")
        if tens and int(tens[0]) % 10 == 0 and int(tens[0]) >= 20:
            value += int(tens[0])
    return value


def extract(text: str, lex: Optional[Lexicon] = None) -> Extraction:
    """Everything the screening can use from one message."""
    lex = lex or lexicon()
    prepared = _prepare(text)
    if not prepared.form:
        return Extraction()
    _, items = _items(prepared, lex)
    negated = _negated(items)
    questions = _in_questions(items)
    present: set = set()
    absent: set = set()
    warning: set = set()
    spans: List[Tuple[int, int, str, str]] = []
    for i, it in enumerate(items):
        syms = it.values("SYM")
        warns = it.values("WARN")
        if not syms and not warns or i in questions:
            continue
        if i in negated:
            absent.update(syms)
            for s in syms[:1]:
                spans.append((it.char_start, it.char_end, "symptom_absent", s))
            continue
        present.update(syms)
        warning.update(warns)
        if "severe_breathing" in warns:
            present.add("breathing")
        # One entity per span: a warning sign outranks the symptom it also is.
        for w in warns[:1]:
            spans.append((it.char_start, it.char_end, "warning_sign", w))
        for s in syms[:1] if not warns else []:
            spans.append((it.char_start, it.char_end, "symptom", s))
    absent -= present

    days: Optional[int] = None
    age: Optional[int] = None
    days_span: Optional[Tuple[int, int]] = None
    age_span: Optional[Tuple[int, int]] = None
    for n, it in enumerate(items):
        units = it.values("UNIT")
        rel = it.values("REL")
        if rel and (days is None or int(rel[0]) > days):
            days, days_span = int(rel[0]), (it.char_start, it.char_end)
        if not units:
            continue
        value = _numbers_before(items, n)
        start = items[n - 1].char_start if value is not None else it.char_start
        if value is not None and n >= 2 and items[n - 2].end == items[n - 1].start and items[n - 2].values("NUM"):
            start = items[n - 2].char_start
        if "year" in units:
            if value is not None and 0 < value <= MAX_AGE:
                age, age_span = value, (start, it.char_end)
            continue
        unit = units[0]
        if value is None and unit in ("week", "month"):
            value = 1  # "hafte se", "a week"
        if value is not None:
            d = value * UNIT_DAYS[unit]
            if 0 < d <= MAX_DAYS and d > (days or 0):
                days, days_span = d, (start, it.char_end)
    if age is None:
        for n, it in enumerate(items):
            if it.has("AGE"):
                for nxt in items[n + 1:]:
                    if nxt.start - it.end > 3:
                        break
                    values = nxt.values("NUM")
                    if values and 0 < int(values[0]) <= MAX_AGE:
                        age, age_span = int(values[0]), (nxt.char_start, nxt.char_end)
                        break
                if age is not None:
                    break

    kinds = [k for it in items for k in it.kinds]
    for_whom = "other" if "OTHER" in kinds else "self" if "SELF" in kinds else None
    comorbidities = frozenset(v for i, it in enumerate(items) if i not in negated for v in it.values("COM"))
    if days_span is not None:
        spans.append((*days_span, "duration_days", str(days)))
    if age_span is not None:
        spans.append((*age_span, "age", str(age)))
    return Extraction(
        symptoms=frozenset(present),
        absent=frozenset(absent),
        warning=frozenset(warning),
        days=days,
        age=age,
        for_whom=for_whom,
        comorbidities=comorbidities,
        spans=tuple(sorted(spans)),
    )


def parse_yes_no(text: str, lex: Optional[Lexicon] = None) -> Optional[str]:
    """``"yes"``, ``"no"``, ``"unsure"`` or None for an answer to a yes/no question."""
    lex = lex or lexicon()
    prepared = _prepare(text)
    if not prepared.form:
        return None
    _, items = _items(prepared, lex)
    kinds = {k for it in items for k in it.kinds}
    if "UNSURE" in kinds:
        return "unsure"
    if "NO" in kinds:
        return "no"
    if "YES" in kinds:
        return "yes"
    return None


def parse_number(text: str, lex: Optional[Lexicon] = None) -> Optional[int]:
    """A number typed in any digit system or as number words ("45", "۴۵", "pachaas", "twenty five")."""
    lex = lex or lexicon()
    prepared = _prepare(text)
    if not prepared.form:
        return None
    _, items = _items(prepared, lex)
    # Digits are unambiguous; number words can be other words too (Kashmiri "چھ" is "is").
    digits = [int(it.values("NUM")[0]) for it in items if it.values("NUM") and prepared.normal[it.char_start:it.char_end].isdigit()]
    if digits:
        return digits[0]
    values = [int(v) for it in items for v in it.values("NUM")[:1]]
    if not values:
        return None
    if len(values) >= 2 and values[0] >= 20 and values[0] % 10 == 0 and values[1] < 10:
        return values[0] + values[1]
    return values[0]


def _found_or_number(text: str, lex: Optional[Lexicon], field: str, maximum: int) -> Optional[int]:
    """``field`` of the extraction ("3 din", "45 saal"), else a bare number up to ``maximum``."""
    found = getattr(extract(text, lex), field)
    if found is not None:
        return found
    number = parse_number(text, lex)
    return number if number is not None and 0 <= number <= maximum else None


def parse_days(text: str, lex: Optional[Lexicon] = None) -> Optional[int]:
    """Days since the first symptom: "3 din", "ek hafta", "kal se", or a bare number of days."""
    return _found_or_number(text, lex, "days", MAX_DAYS)


def parse_age(text: str, lex: Optional[Lexicon] = None) -> Optional[int]:
    """An age: "45 saal", "umar 45", or a bare number of years."""
    return _found_or_number(text, lex, "age", MAX_AGE)


def parse_for_whom(text: str, lex: Optional[Lexicon] = None) -> Optional[str]:
    """``"self"`` ("for me", "mujhe"), ``"other"`` ("my mother", "ammi", "someone else") or None."""
    return extract(text, lex).for_whom


def parse_comorbidities(text: str, lex: Optional[Lexicon] = None) -> FrozenSet[str]:
    """Conditions named in ``text`` ("sugar aur bp" -> diabetes, hypertension)."""
    return extract(text, lex).comorbidities


def parse_choice(text: str, allowed: Iterable[str], lex: Optional[Lexicon] = None) -> Optional[str]:
    """Which of the ``allowed`` choices (``consult_choices`` in the lexicons) ``text`` names, or None.

    Whole words after normalisation; the longest phrase found wins ("another number" over
    "number"); a tie between different choices is no answer.
    """
    lex = lex or lexicon()
    norm = " " + " ".join(re.findall(r"\w+", match_form(text or ""))) + " "
    best: Tuple[int, Optional[str]] = (0, None)
    for name in allowed:
        for phrase in lex.choices.get(name, ()):
            words = " ".join(re.findall(r"\w+", phrase))
            if words and f" {words} " in norm:
                if len(words) > best[0]:
                    best = (len(words), name)
                elif len(words) == best[0] and best[1] != name:
                    best = (len(words), None)
    return best[1]
