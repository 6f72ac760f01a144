"""The default offline pre-labeler: trigger lexicon, gazetteers and rules over Arabic words.

How a sentence is labelled:
1. Words are found with one regex over the original text (letters, digits, diacritics and tatweel;
   invisible marks such as RLM only inside a word), so a span always starts and ends on a word.
2. Each distinct word is analysed once (cached): camel-tools normalisation, then its readings with
   the clitics و ف / ب ك ل س / ال and pronoun suffixes stripped, the patterns whose first word it
   can be, and its word classes (time words, numbers, titles, ...).
3. Patterns from the resource files (triggers, weapons and vehicles, gazetteers, blockers) are
   matched from every word; rules add TIME, PER, FAC and ORG candidates.
4. Overlaps are resolved longest first; blockers win and are dropped. Then organisation names are
   extended with their type word and nationality adjective, weapons and vehicles with their type
   adjective, and casualty counts (NUM) are found next to the resolved triggers.

Spans cover whole words as Label Studio's word granularity selects them (a clitic attached to a
word is inside the span). The resource files are in corpus/resources/prelabel/ (formats in their
headers).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import regex

from corpus.bundled import lexicon_dir
from corpus.errors import CorpusError
from corpus.types import Span

RESOURCE_DIR = lexicon_dir()  # package data (importlib.resources): found from a wheel too
# The version string is "lexicon-<this>+<digest of this module and the resource files>", so any
# change to either gives a new model_version (and `corpus prelabel` redoes stale predictions).
LEXICON_VERSION = "1"

# Event types whose participants are counted as casualty NUM.
CASUALTY_EVENTS = frozenset(
    {
        "Life.Die",
        "Life.Injure",
        "Justice.Arrest-Jail",
        "Justice.Release-Parole",
        "Movement.Transport",
    }
)

# --- words and normalisation ------------------------------------------------------------------

# A word starts with a letter or digit and goes on over letters (tatweel is one), digits and
# combining marks (diacritics); invisible format marks (RLM, ZWJ ...) belong to it only between
# two of those, a decimal point or thousands separator only between digits (3.5, 10.30). Grapheme
# extenders after it (marks, ZWNJ, ZWJ, emoji modifiers) and prepended marks before it (U+0600
# number signs) stay with it, so a word always starts and ends on a grapheme boundary. "_" and
# "#" separate words (hashtags).
_WORD_PATTERN = (
    r"\p{GCB=Prepend}*[\p{L}\p{N}][\p{L}\p{N}\p{M}]*"
    r"(?:(?:\p{Cf}+|(?<=\p{N})[.,\u066b\u066c](?=\p{N}))[\p{L}\p{N}][\p{L}\p{N}\p{M}]*)*"
    r"[\p{GCB=Extend}\p{GCB=ZWJ}\p{GCB=SpacingMark}]*"
)
WORD_RE = regex.compile(_WORD_PATTERN)
# split() with a group gives [separator, word, separator, word, ..., separator] in one C call.
_SPLIT_RE = regex.compile(f"({_WORD_PATTERN})")
# What may stand between two words of one name or phrase (hashtags join words with "_").
_JOINERS = frozenset(
    " \t\n\r\u00a0_#\u0640\u200b\u200c\u200d\u200e\u200f\u061c\u2066\u2067\u2068\u2069\ufeff"
)

_TRANSLATE = {ord("\u0640"): None}  # tatweel
for _c in range(0x200B, 0x2010):
    _TRANSLATE[_c] = None
# Marks that only decorate a word: bidi controls, variation selectors, emoji skin tones, the
# Arabic number signs that prefix digits.
for _c in (
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
    *range(0xFE00, 0xFE10),
    *range(0x1F3FB, 0x1F400),
    *range(0x0600, 0x0606),
    0x061C,
    0xFEFF,
    0x00AD,
):
    _TRANSLATE[_c] = None
for _i in range(10):
    _TRANSLATE[0x0660 + _i] = str(_i)  # Arabic-Indic digits
    _TRANSLATE[0x06F0 + _i] = str(_i)  # Extended Arabic-Indic (Persian) digits
_TRANSLATE[ord("ک")] = "ك"
_TRANSLATE[ord("ی")] = "ي"

_normalizer: Callable[[str], str] | None = None


def normalize_word(word: str) -> str:
    """camel-tools normalisation for matching: diacritics removed (`dediac_ar`), alef forms,
    alef maqsura and ta marbuta unified (`normalize_*_ar`), tatweel and invisible marks removed,
    Arabic-Indic digits as ASCII. For matching only, never for the text annotators see."""
    global _normalizer
    if _normalizer is None:
        # camel-tools builds its character tables on import (~2 s): only when first needed.
        from camel_tools.utils.dediac import dediac_ar
        from camel_tools.utils.normalize import (
            normalize_alef_ar,
            normalize_alef_maksura_ar,
            normalize_teh_marbuta_ar,
        )

        def _norm(s: str) -> str:
            s = dediac_ar(s.translate(_TRANSLATE))
            return normalize_teh_marbuta_ar(normalize_alef_maksura_ar(normalize_alef_ar(s)))

        _normalizer = _norm
    return _normalizer(word)


def word_spans(text: str) -> list[tuple[int, int]]:
    """`[(start, end), ...]` of the words of `text` (code points, end-exclusive)."""
    return [m.span() for m in WORD_RE.finditer(text)]


def _joinable(sep: str) -> bool:
    return all(ch in _JOINERS for ch in sep)


# Clitics. Readings get a level: 0 the word, 1 conjunction stripped, 2 preposition or future
# particle stripped, 3 article stripped, 4 pronoun suffix stripped. Names match up to level 2
# (a name keeps its article), lexicon words up to level 4.
_CONJ = "وف"
_PREP = "بكل"
# Third-person, "our" and plural "your" only: "my" and singular "your" are rare in news, and
# stripping ي or ك would turn nisba adjectives and other words into nouns (مدفعي -> مدفع).
_SUFFIXES = ("هما", "هم", "هن", "ها", "نا", "كم", "ه")


def clitic_readings(w: str) -> dict[str, int]:
    """Possible stems of a normalised word with the level at which each appears (see above)."""
    out: dict[str, int] = {w: 0}
    article: set[str] = set()  # forms that had an article stripped: no pronoun suffix after one

    def add(form: str, level: int) -> None:
        if len(form) >= 2 and (form not in out or out[form] > level):
            out[form] = level

    bases = [(w, 0)]
    if len(w) >= 3 and w[0] in _CONJ:
        add(w[1:], 1)
        bases.append((w[1:], 1))
    for f, _ in bases:
        # A preposition attaches to a noun of at least three letters (كفر is not ك + فر).
        if len(f) >= 4 and f[0] in _PREP:
            add(f[1:], 2)
            if f.startswith("لل") and len(f) >= 4:
                add("ال" + f[2:], 2)  # ل + ال is written لل
                add(f[2:], 3)
                article.add(f[2:])
        if len(f) >= 4 and f[0] == "س" and f[1] in "يتن":
            add(f[1:], 2)  # future particle before an imperfect verb
    for f in list(out):
        if f.startswith("ال") and len(f) >= 4:
            add(f[2:], 3)
            article.add(f[2:])
    for f in list(out):
        if f.startswith("ال") or f in article:
            continue
        for suf in _SUFFIXES:
            if f.endswith(suf) and len(f) - len(suf) >= 2:
                stem = f[: -len(suf)]
                add(stem, 4)
                if stem.endswith("ت"):
                    add(stem[:-1] + "ه", 4)  # ta marbuta is written ت before a suffix
                elif stem.endswith("ا"):
                    add(stem[:-1] + "ي", 4)  # alef maqsura: ألقاه
                elif stem.endswith("و"):
                    add(stem + "ا", 4)  # قتلوه = قتلوا + ه
    return out


# --- generated inflections --------------------------------------------------------------------


def verb_forms(perfect: str, imperfect: str) -> set[str]:
    """Normalised 3rd/2nd/1st-plural forms of a verb from its perfect and imperfect 3ms stems."""
    p, i = normalize_word(perfect), normalize_word(imperfect)
    forms = {p + s for s in ("", "ت", "ا", "تا", "وا", "ن", "نا", "تم", "تما", "و")}
    if p[-1] in "يا":  # defective: لقي -> لقوا، ألقى -> ألقت
        forms |= {p[:-1] + s for s in ("ت", "تا", "وا", "و", "ا")}
    root = i[1:] if i[0] in "يتنا" else i
    # 1st person singular (أ + stem) is left out: rare in news and it collides with nouns
    # (أصل "origin" from يصل).
    for pre in "يتن":
        forms |= {pre + root + s for s in ("", "ون", "ان", "ين", "وا", "ا", "ن")}
        if root[-1] in "يوا":
            forms |= {pre + root[:-1] + s for s in ("ون", "وا", "ين", "ان")}
    return forms


def noun_forms(noun: str) -> set[str]:
    """A noun with its accusative (tanween alef), dual and, for -ة nouns, -ات plural."""
    n = normalize_word(noun)
    if n.endswith("ه"):
        return {n, n[:-1] + "تان", n[:-1] + "تين", n[:-1] + "ات"}
    forms = {n, n + "ان", n + "ين"}
    if n[-1] not in "اىيءوئؤ":
        forms.add(n + "ا")
    return forms


def nisba_forms(adj: str) -> tuple[set[str], set[str]]:
    """(all forms, forms with the article) of a nationality adjective: سوري -> السورية ..."""
    a = normalize_word(adj)
    bare = {a, a + "ه", a + "ون", a + "ين", a + "ا", a + "ات"}
    definite = {"ال" + f for f in bare if not f.endswith("ا")}
    return bare | definite, definite


# --- resources --------------------------------------------------------------------------------

PRIO_BLOCK, PRIO_GAZ, PRIO_LEX, PRIO_RULE = 4, 3, 2, 1


@dataclass(frozen=True, slots=True)
class _Elem:
    forms: frozenset[str] | None  # None: a gap
    level: int = 4
    context: bool = False
    gap: int = 0


@dataclass(frozen=True, slots=True)
class _Pattern:
    label: str
    kind: str  # "trigger" | "entity" | "block"
    score: float
    prio: int
    elems: tuple[_Elem, ...]
    first: int  # index of the first and last marked (non-context) element
    last: int
    size: int  # number of words the pattern checks (longer context wins ties)
    source: str  # "file:line" for debugging
    needs_cue: bool = False  # a place name that is also a common word (see gpe.txt)


class ResourceError(CorpusError, ValueError):
    """A resource file of the pre-labeler is malformed (names the file and line)."""


_NUMBER = re.compile(r"[0-9]+(?:[.,][0-9]+)*")
_SHADDA_YA = re.compile("\u064a[\u064b-\u0650]*\u0651")
# مسيرة is a march (Conflict.Demonstrate) or, written مسيّرة, a drone (VEH).
_MARCH_OR_DRONE = frozenset({"مسيره", "مسيرات", "مسيرتين", "مسيرتان"})
_PATTERN_TOKEN = re.compile(r"\[[^\]]+\]|\{[^}]+\}|\([^)]+\)|\*|\S+")

# Word classes (bit flags) and the reading level each is looked up at.
_CLASSES = {
    "stop": 4,
    "first_name": 1,
    "first_name_weak": 1,
    "name_particle": 1,
    "title": 2,
    "title_modifier": 2,
    "person_noun": 4,
    "nisba": 4,
    "nisba_def": 2,
    "org_type": 2,
    "org_head": 2,
    "org_type_gpe": 2,
    "facility": 2,
    "facility_adjective": 1,
    "not_a_name": 3,
    "type_adjective": 3,
    "day": 2,
    "month": 2,
    "month_weak": 2,
    "month_head": 2,
    "month_ordinal": 0,
    "relative_day": 2,
    "part_of_day": 2,
    "period": 2,
    "period_adjective": 0,
    "time_lead": 2,
    "number": 3,
    "number_scale": 3,
    "unit": 3,
    "common": 2,
    "place_cue": 2,
    "loc_type": 2,
    "media": 2,
}
_BIT = {
    name: 1 << k
    for k, name in enumerate(
        [
            *_CLASSES,
            *("digits", "year", "daynum", "definite", "tanween", "shadda_ya"),
            *("conj", "prep_article", "latin_acronym", "latin_name"),
        ]
    )
}
B = type("B", (), {k.upper(): v for k, v in _BIT.items()})  # B.DAY, B.TITLE, ...
_TIMEISH = B.DAY | B.MONTH | B.RELATIVE_DAY | B.YEAR | B.PART_OF_DAY | B.PERIOD | B.TIME_LEAD
_TIMEISH |= B.MONTH_HEAD | B.DAYNUM | B.MONTH_WEAK
_NOT_PLAIN = (
    B.STOP | B.TITLE | B.TITLE_MODIFIER | B.PERSON_NOUN | B.NUMBER | B.DIGITS | B.NISBA | B.ORG_TYPE
)
_NOT_PLAIN |= B.ORG_HEAD | B.FACILITY | B.UNIT | B.DAY | B.MONTH | B.RELATIVE_DAY | B.PERIOD
# Word classes that start a rule (a sentence with none of them and no pattern has no span).
_RULE_BITS = _TIMEISH | B.FIRST_NAME | B.FIRST_NAME_WEAK | B.FACILITY | B.ORG_HEAD | B.ORG_TYPE_GPE
_RULE_BITS |= B.LOC_TYPE | B.MEDIA | B.LATIN_ACRONYM | B.LATIN_NAME
_MONTHS = B.MONTH | B.MONTH_WEAK
_KUNYA = frozenset(("ابو", "ابي", "ام"))
# Latin-script names in Arabic text: an acronym (CNN, IBM) or a capitalised word (Dell).
# An Arabic clitic may be glued to it (وCNN).
_LATIN_ACRONYM = re.compile(r"[وفبلك]{0,2}[A-Z][A-Z0-9&]{1,5}")
_LATIN_NAME = re.compile(r"[وفبلك]{0,2}[A-Z][a-z]+(?:[A-Z][a-z]+)*")


GAZETTEERS = {
    "gpe.txt": "GPE",
    "loc.txt": "LOC",
    "org.txt": "ORG",
    "fac.txt": "FAC",
    "per.txt": "PER",
}


class Resources:
    """Compiled patterns and word classes (loaded once per process, see `load_resources`).

    `extra_dirs`: folders with more gazetteer files of the same names and format (a workspace's
    `lexicon/`); `extra_names`: (label, name) pairs (a workspace's `[prelabel.gazetteer]`). Both
    change `digest`, so predictions made without them are redone.
    """

    def __init__(
        self,
        directory: Path = RESOURCE_DIR,
        extra_dirs: Sequence[Path] = (),
        extra_names: Sequence[tuple[str, str]] = (),
    ):
        self.directory = Path(directory)
        self.patterns: list[_Pattern] = []
        self.name_index: dict[str, list[_Pattern]] = {}
        self.word_index: dict[str, list[_Pattern]] = {}
        self.word_classes: dict[str, list[tuple[int, int]]] = {}  # form -> [(bit, max level)]
        self.nisba_definite: frozenset[str] = frozenset()
        self.trigger_lemmas: dict[str, str] = {}  # lemma -> event type (for camel-tools)
        files = sorted(p for p in self.directory.iterdir() if p.suffix in (".tsv", ".txt"))
        # The version changes with the resources and with this code: stale predictions are redone.
        extra_files = [
            Path(d) / name for d in extra_dirs for name in GAZETTEERS if (Path(d) / name).is_file()
        ]
        code = Path(__file__).read_bytes()
        h = hashlib.sha256(code + b"".join(p.name.encode() + p.read_bytes() for p in files))
        for p in extra_files:
            h.update(b"\0extra\0" + p.name.encode() + b"\0" + p.read_bytes())
        for label, name in extra_names:
            h.update(f"\0name\0{label}\0{name}".encode())
        self.digest = h.hexdigest()
        self._load_lexicon("triggers.tsv", "trigger")
        self._load_lexicon("nominals.tsv", "entity")
        for name, label in GAZETTEERS.items():
            self._load_gazetteer(self.directory / name, label)
        for path in extra_files:
            self._load_gazetteer(path, GAZETTEERS[path.name])
        for n, (label, name) in enumerate(extra_names, 1):
            self._gazetteer_line(name, label, f"[prelabel.gazetteer] {label}", n)
        self._load_words("words.tsv")
        self.max_elems = max(len(p.elems) for p in self.patterns)
        for p in self.patterns:
            index = (
                self.name_index if p.kind == "entity" and p.prio == PRIO_GAZ else self.word_index
            )
            for form in p.elems[0].forms or ():
                index.setdefault(form, []).append(p)

    # Each loader reads one file format; errors name the file and line.
    def _lines(self, name: str | Path) -> Iterable[tuple[int, str]]:
        path = self.directory / name  # an absolute path stays as it is
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            line = line.strip()
            if line and not line.startswith("#"):
                yield n, line

    def _fail(self, name: str | Path, n: int, problem: str) -> ResourceError:
        where = name if str(name).startswith("[") else self.directory / name
        return ResourceError(f"{where}:{n}: {problem}")

    def _load_lexicon(self, name: str, kind: str) -> None:
        for n, line in self._lines(name):
            cols = line.split("\t")
            if len(cols) not in (3, 4):
                raise self._fail(name, n, "expected LABEL<TAB>CLASS<TAB>PATTERN[<TAB>SCORE]")
            label, cls, text = cols[0], cols[1], cols[2]
            try:
                score = float(cols[3]) if len(cols) == 4 else 0.85
            except ValueError:
                raise self._fail(name, n, f"score {cols[3]!r} is not a number") from None
            if not 0 < score <= 1:
                raise self._fail(name, n, "score must be in (0, 1]")
            pkind = "block" if label == "-" else kind
            prio = PRIO_BLOCK if pkind == "block" else PRIO_LEX
            if cls == "V":
                parts = text.split()
                if len(parts) != 2:
                    raise self._fail(name, n, "V needs PERFECT IMPERFECT")
                elems = (_Elem(frozenset(verb_forms(*parts))),)
                if pkind == "trigger":
                    self.trigger_lemmas.setdefault(normalize_word(parts[0]), label)
            elif cls == "N":
                if " " in text:
                    raise self._fail(name, n, "N is one word (use P for phrases)")
                elems = (_Elem(frozenset(noun_forms(text))),)
                if pkind == "trigger":
                    self.trigger_lemmas.setdefault(normalize_word(text), label)
            elif cls == "X":
                if " " in text:
                    raise self._fail(name, n, "X is one word (use P for phrases)")
                elems = (_Elem(frozenset({normalize_word(text)})),)
            elif cls == "P":
                elems = self._phrase(name, n, text)
            else:
                raise self._fail(name, n, f"unknown class {cls!r} (V, N, X or P)")
            self._add(label, pkind, score, prio, elems, f"{name}:{n}", name, n)

    def _phrase(self, name: str, n: int, text: str) -> tuple[_Elem, ...]:
        elems = []
        for tok in _PATTERN_TOKEN.findall(text):
            context = tok.startswith("(")
            inner = tok[1:-1].strip() if context else tok
            if inner == "*":
                elems.append(_Elem(None, context=True, gap=3))
                continue
            if inner.startswith("["):
                parts = inner[1:-1].split()
                if len(parts) != 2:
                    raise self._fail(name, n, f"verb {inner!r} needs [PERFECT IMPERFECT]")
                forms = verb_forms(*parts)
            elif inner.startswith("{"):
                forms = {normalize_word(a) for a in inner[1:-1].split("|") if a.strip()}
            else:
                forms = {normalize_word(inner)}
            elems.append(_Elem(frozenset(forms), context=context))
        return tuple(elems)

    def _load_gazetteer(self, path: Path, label: str) -> None:
        for n, line in self._lines(path):
            self._gazetteer_line(line, label, path, n)

    def _gazetteer_line(self, line: str, label: str, name, n: int) -> None:
        """`NAME[<TAB>SCORE]`; a leading `~` marks a name that is also a common word (الخمس
        "five", القائم "standing"): it is a name only after a place cue (في، مدينة ...)."""
        cols = line.strip().split("\t")
        needs_cue = cols[0].startswith("~")
        try:
            score = float(cols[1]) if len(cols) > 1 else 0.9
        except ValueError:
            raise self._fail(name, n, f"score {cols[1]!r} is not a number") from None
        words = [normalize_word(w) for w in WORD_RE.findall(cols[0])]
        if not words or not 0 < score <= 1:
            raise self._fail(name, n, "expected NAME[<TAB>SCORE in (0, 1]]")
        elems = (_Elem(frozenset({words[0]}), level=2),) + tuple(
            _Elem(frozenset({w}), level=0) for w in words[1:]
        )
        where = f"{Path(str(name)).name}:{n}"
        self._add(label, "entity", score, PRIO_GAZ, elems, where, name, n, needs_cue)

    def _add(self, label, kind, score, prio, elems, source, name, n, needs_cue=False) -> None:
        marked = [k for k, e in enumerate(elems) if not e.context]
        if not elems or elems[0].gap:
            raise self._fail(name, n, "a pattern cannot be empty or start with a gap")
        if not marked or marked != list(range(marked[0], marked[-1] + 1)):
            raise self._fail(name, n, "the marked words of a pattern must be adjacent")
        size = sum(1 for e in elems if not e.gap)
        self.patterns.append(
            _Pattern(
                label, kind, score, prio, elems, marked[0], marked[-1], size, source, needs_cue
            )
        )

    def _load_words(self, name: str) -> None:
        section = None
        definite: set[str] = set()
        for n, line in self._lines(name):
            if line.startswith("["):
                section = line.strip("[]")
                if section not in _CLASSES:
                    raise self._fail(name, n, f"unknown section [{section}]")
                continue
            if section is None:
                raise self._fail(name, n, "words before the first [section]")
            for w in line.split():
                if section == "nisba":
                    forms, defs = nisba_forms(w)
                    definite |= defs
                    for f in forms:
                        self._word_class(f, "nisba")
                    for f in defs:
                        self._word_class(f, "nisba_def")
                else:
                    self._word_class(normalize_word(w), section)
        self.nisba_definite = frozenset(definite)

    def is_name(self, form: str) -> bool:
        """Is this exact normalised form a first name or the first word of a gazetteer name?"""
        if form in self.name_index:
            return True
        return any(
            bit & (B.FIRST_NAME | B.FIRST_NAME_WEAK) for bit, _ in self.word_classes.get(form, ())
        )

    def _word_class(self, form: str, section: str) -> None:
        self.word_classes.setdefault(form, []).append((_BIT[section], _CLASSES[section]))


_RESOURCES: dict[tuple, Resources] = {}


def load_resources(
    extra_dirs: Sequence[Path] = (), extra_names: Sequence[tuple[str, str]] = ()
) -> Resources:
    """The bundled resources (plus a workspace's gazetteer entries), compiled once per process
    and per set of extra files and their contents."""
    key = (
        tuple(
            (str(p), p.stat().st_mtime_ns, p.stat().st_size)
            for d in extra_dirs
            for p in (Path(d) / name for name in GAZETTEERS)
            if p.is_file()
        ),
        tuple(extra_names),
    )
    if key not in _RESOURCES:
        _RESOURCES[key] = Resources(extra_dirs=extra_dirs, extra_names=extra_names)
    return _RESOURCES[key]


def workspace_gazetteer(value) -> list[tuple[str, str]]:
    """(label, name) pairs from corpus.toml's `[prelabel.gazetteer]` table (label -> names)."""
    if value is None:
        return []
    labels = set(GAZETTEERS.values())
    if not isinstance(value, dict):
        raise CorpusError(
            "[prelabel] gazetteer in corpus.toml must be a table of label = [names].",
            'Write it as [prelabel.gazetteer] with lines such as ORG = ["شركة النفط الوطنية"].',
        )
    out = []
    for label, names in value.items():
        if label not in labels or not isinstance(names, list):
            raise CorpusError(
                f"[prelabel.gazetteer] {label!r}: expected one of {', '.join(sorted(labels))} "
                "= a list of names.",
                'For example: GPE = ["كفرنبل", "معرة النعمان"]',
            )
        for name in names:
            if not isinstance(name, str) or not WORD_RE.search(name):
                raise CorpusError(
                    f"[prelabel.gazetteer] {label}: {name!r} is not a name.",
                    "Each entry is a quoted name of one or more words.",
                )
            out.append((label, name))
    return out


# --- the pre-labeler --------------------------------------------------------------------------


class _Word:
    """Everything about one distinct word form that does not depend on its sentence."""

    __slots__ = ("key", "levels", "hits", "cats")

    def __init__(self, raw: str, res: Resources):
        key = normalize_word(raw)
        self.key = key
        readings = clitic_readings(key) if key else {}
        # levels[L]: every reading available at level <= L.
        by_level: list[set[str]] = [set() for _ in range(5)]
        for form, lvl in readings.items():
            for k in range(lvl, 5):
                by_level[k].add(form)
        self.levels = tuple(frozenset(s) for s in by_level)
        hits: dict[int, _Pattern] = {}
        cats = 0
        definite = False
        for form, lvl in readings.items():
            if lvl <= 2:
                for p in res.name_index.get(form, ()):
                    hits[id(p)] = p
            for p in res.word_index.get(form, ()):
                hits[id(p)] = p
            for bit, max_level in res.word_classes.get(form, ()):
                if lvl <= max_level:
                    cats |= bit
            if lvl <= 3 and _NUMBER.fullmatch(form):
                cats |= B.DIGITS
                if form.isdigit():
                    value = int(form)
                    if len(form) == 4 and 1900 <= value <= 2100:
                        cats |= B.YEAR
                    elif 1 <= value <= 31:
                        cats |= B.DAYNUM
            if lvl <= 2 and form.startswith("ال") and len(form) >= 4:
                definite = True
        if definite and not cats & B.STOP:  # الذي، التي are not article + noun
            cats |= B.DEFINITE
        if cats & B.COMMON:
            # An ordinary word (وجود, كيف) is never a name, whatever its clitic readings say:
            # وجود is not و + the first name جود.
            cats &= ~(B.FIRST_NAME | B.FIRST_NAME_WEAK)
            hits = {k: p for k, p in hits.items() if p.prio != PRIO_GAZ}
        if key[:1] in _CONJ and readings.get(key[1:]) == 1 and not res.is_name(key):
            cats |= B.CONJ  # وأحمد: "and" + a name; it starts a new name, never continues one
        if key[:3] in ("بال", "كال", "فال", "وال") or key[:2] == "لل":
            cats |= B.PREP_ARTICLE  # بالتحدث: a preposition + article, never part of a name
        if _LATIN_ACRONYM.fullmatch(raw):
            cats |= B.LATIN_ACRONYM
        elif _LATIN_NAME.fullmatch(raw):
            cats |= B.LATIN_NAME
        if "\u064b" in raw:
            cats |= B.TANWEEN  # an indefinite accusative: an adjective or noun, never a name
        if _SHADDA_YA.search(raw):
            cats |= B.SHADDA_YA  # مسيّرة (drone), not مسيرة (march)
        self.hits = tuple(hits.values())
        self.cats = cats


class LexiconPrelabeler:
    """The default offline pre-labeler (see the module docstring). Resources load on first use."""

    name = "lexicon"
    source = "lexicon"

    def __init__(
        self,
        resources: Resources | None = None,
        cache_size: int = 200_000,
        extra_dirs: Sequence[Path] = (),
        extra_names: Sequence[tuple[str, str]] = (),
    ):
        self._res = resources
        self._extra = (tuple(extra_dirs), tuple(extra_names))
        self._cache: dict[str, _Word] = {}
        self._cache_size = cache_size

    @classmethod
    def from_workspace(cls, workspace) -> LexiconPrelabeler:
        """The lexicon with the workspace's own gazetteer entries: files named like the bundled
        ones (gpe.txt, loc.txt, org.txt, fac.txt, per.txt) in `<workspace>/lexicon/`, and
        `[prelabel.gazetteer]` in corpus.toml (`ORG = ["...", ...]`)."""
        if workspace is None:
            return cls()
        names = workspace_gazetteer(workspace.section("prelabel").get("gazetteer"))
        return cls(extra_dirs=[workspace.root / "lexicon"], extra_names=names)

    @property
    def resources(self) -> Resources:
        if self._res is None:
            self._res = load_resources(*self._extra)
        return self._res

    @property
    def version(self) -> str:
        return f"lexicon-{LEXICON_VERSION}+{self.resources.digest[:10]}"

    def predict_batch(self, texts: Sequence[str]) -> list[list[Span]]:
        return [self.predict(t) for t in texts]

    def predict(self, text: str) -> list[Span]:
        """Entity and trigger spans of one sentence, offsets into `text`, in text order."""
        starts, ends, found = self.analyse(text)
        source = self.source
        return [
            Span(starts[s], ends[e - 1], label, kind, score, source)
            for s, e, label, kind, score in found
        ]

    def _word(self, raw: str) -> _Word:
        if len(self._cache) >= self._cache_size:
            self._cache.clear()
        w = self._cache[raw] = _Word(raw, self.resources)
        return w

    def analyse(self, text: str) -> tuple[list[int], list[int], list[list]]:
        """(word starts, word ends, [[first_word, end_word, label, kind, score], ...])."""
        # One pass: words with offsets, their cached analyses, and whether each separator
        # joins two words of one name or phrase.
        parts = _SPLIT_RE.split(text)
        cache = self._cache
        starts: list[int] = []
        ends: list[int] = []
        words: list[_Word] = []
        join: list[bool] = []  # join[k]: words k and k+1 may be in one span
        slash: list[bool] = []  # slash[k]: words k and k+1 are separated by "/" (تموز / يوليو)
        cats: list[int] = []
        with_hits: list[int] = []
        allcats = 0
        pos = len(parts[0])
        for k in range(1, len(parts), 2):
            raw = parts[k]
            w = cache.get(raw) or self._word(raw)
            if w.hits:
                with_hits.append(len(words))
            end = pos + len(raw)
            starts.append(pos)
            ends.append(end)
            words.append(w)
            cats.append(w.cats)
            allcats |= w.cats
            sep = parts[k + 1]
            join.append(sep == " " or _joinable(sep))
            slash.append(sep.strip(" ") == "/")
            pos = end + len(sep)
        n = len(words)
        if not with_hits and not allcats & _RULE_BITS:
            return starts, ends, []

        cands: list[tuple[int, int, str, str, float, int, int]] = []
        where: list = [None] * self.resources.max_elems  # word index of each pattern element
        for i in with_hits:
            for p in words[i].hits:
                if len(p.elems) == 1:  # most patterns are one word
                    s, e = i, i + 1
                else:
                    where[0] = i
                    if not self._match(p.elems, 1, i, words, join, n, where):
                        continue
                    s, e = where[p.first], where[p.last] + 1
                if e - s == 1 and p.prio == PRIO_GAZ:
                    if cats[s] & B.TANWEEN:
                        continue
                    if p.label == "GPE" and self._adjective_use(s, words, join):
                        continue
                if p.needs_cue and not self._place_cue(s, e, words, cats, join, n):
                    continue
                cands.append((s, e, p.label, p.kind, p.score, p.prio, p.size))
        # Words inside a matched pattern are not free for the rules below.
        hit = [False] * n
        for c in cands:
            for k in range(c[0], c[1]):
                hit[k] = True
        if allcats & _TIMEISH:
            cands += self._time(cats, join, hit, n, slash)
        if allcats & (B.FIRST_NAME | B.FIRST_NAME_WEAK):
            cands += self._persons(words, cats, join, hit, n)
        if allcats & (B.FACILITY | B.ORG_HEAD | B.ORG_TYPE_GPE | B.LOC_TYPE | B.MEDIA):
            cands += self._facilities_and_orgs(cands, words, cats, join, hit, n)
        if allcats & (B.LATIN_ACRONYM | B.LATIN_NAME):
            cands += self._latin(cats, join, hit, n)

        # Longest span first; then the pattern that checks more words, blockers, gazetteers, score.
        cands.sort(key=lambda c: (c[0] - c[1], -c[6], -c[5], -c[4], c[0]))
        used = [False] * n
        chosen: list[list] = []
        for s, e, label, kind, score, _prio, _size in cands:
            if any(used[s:e]):
                continue
            for k in range(s, e):
                used[k] = True
            if kind != "block":
                chosen.append([s, e, label, kind, score])

        self._drones(chosen, words, cats)
        self._extend(chosen, used, cats, join, n, words)
        if allcats & (B.NUMBER | B.DIGITS):
            chosen += self._counts(chosen, used, words, cats, join, n)
        chosen.sort(key=lambda c: (c[0], c[1]))
        return starts, ends, chosen

    # -- pattern matching
    def _match(self, elems, k, prev, words, join, n, pos) -> bool:
        """Match elems[k:] after word `prev`; fills `pos` with word indexes."""
        if k == len(elems):
            return True
        e = elems[k]
        if e.gap:
            t = prev
            for g in range(e.gap + 1):
                if g:
                    t = prev + g
                    if t >= n or not join[t - 1]:
                        return False
                if self._match(elems, k + 1, t, words, join, n, pos):
                    return True
            return False
        t = prev + 1
        if t >= n or not join[prev] or e.forms.isdisjoint(words[t].levels[e.level]):
            return False
        pos[k] = t
        return self._match(elems, k + 1, t, words, join, n, pos)

    @staticmethod
    def _place_cue(s, e, words, cats, join, n) -> bool:
        """A name that is also a common word (~ in gpe.txt) is a place after a place cue
        (في الخمس، مدينة القائم), unless a definite adjective follows it: then it is the
        common noun (في الزاوية الشرقية من الغرفة)."""
        if not (s > 0 and join[s - 1] and cats[s - 1] & B.PLACE_CUE):
            return False
        return not (e < n and join[e - 1] and cats[e] & B.DEFINITE and not words[e].hits)

    def _adjective_use(self, i: int, words, join) -> bool:
        """A one-word GPE that is a nationality adjective after a definite noun (الدفاعات
        الجوية السعودية) is the adjective, not the country."""
        return (
            i > 0
            and join[i - 1]
            and bool(words[i - 1].cats & B.DEFINITE)
            and not words[i].levels[2].isdisjoint(self.resources.nisba_definite)
        )

    # -- rules
    @staticmethod
    def _time(cats, join, hit, n, slash) -> list[tuple]:
        """TIME: runs of time words with an anchor (day, month, relative day, year, period with
        an adjective). Two names of one month joined by "/" are one date (15 تموز / يوليو);
        a relative day right after a newspaper word is its name (صحيفة اليوم), not a date."""
        out = []
        i = 0
        while i < n:
            if hit[i] or not cats[i] & _TIMEISH:
                i += 1
                continue
            if (
                cats[i] & B.RELATIVE_DAY
                and i > 0
                and join[i - 1]
                and cats[i - 1] & B.MEDIA
                and not cats[i - 1] & B.DEFINITE
            ):
                i += 1
                continue
            j = i + 1
            while j < n and not hit[j]:
                c, prev = cats[j], cats[j - 1]
                if not join[j - 1]:
                    if slash[j - 1] and c & _MONTHS and prev & _MONTHS:
                        j += 1
                        continue
                    break
                if (
                    c & _TIMEISH
                    or (
                        c & B.PERIOD_ADJECTIVE
                        and prev & (B.PERIOD | B.RELATIVE_DAY | B.DAY | B.PART_OF_DAY)
                    )
                    or (c & B.MONTH_ORDINAL and prev & B.MONTH_HEAD)
                ):
                    j += 1
                else:
                    break
            run = list(range(i, j))
            # Trim words that cannot begin or end a time expression.
            while run and (
                cats[run[0]] & (B.PERIOD_ADJECTIVE | B.MONTH_ORDINAL)
                or (
                    cats[run[0]] & B.DAYNUM
                    and not (
                        len(run) > 1 and cats[run[1]] & (B.MONTH | B.MONTH_WEAK | B.MONTH_HEAD)
                    )
                )
            ):
                run.pop(0)
            while run and (
                # "صباح"، "يوم"، "العام" or a day number cannot end one
                (
                    cats[run[-1]] & (B.PART_OF_DAY | B.TIME_LEAD)
                    and not cats[run[-1]] & (B.DAY | B.MONTH | B.RELATIVE_DAY)
                )
                or cats[run[-1]] & (B.PERIOD | B.DAYNUM)
            ):
                run.pop()
            if run:
                rc = 0
                for k in run:
                    rc |= cats[k]
                anchored = (
                    rc & (B.DAY | B.MONTH | B.RELATIVE_DAY | B.YEAR)
                    or (rc & B.PERIOD and rc & B.PERIOD_ADJECTIVE)
                    or (rc & B.MONTH_HEAD and rc & B.MONTH_ORDINAL)
                    # مارس، آب are ordinary words unless a day number, year, month or شهر is near
                    or (rc & B.MONTH_WEAK and rc & (B.YEAR | B.DAYNUM | B.MONTH | B.TIME_LEAD))
                )
                # A lone year followed by a noun for people is a count, not a date.
                if len(run) == 1 and cats[run[0]] & B.YEAR and run[0] + 1 < n:
                    if cats[run[0] + 1] & B.PERSON_NOUN:
                        anchored = False
                if anchored:
                    out.append((run[0], run[-1] + 1, "TIME", "entity", 0.8, PRIO_RULE, len(run)))
            i = j
        return out

    @staticmethod
    def _plain(k, cats, hit) -> bool:
        return not hit[k] and not cats[k] & _NOT_PLAIN

    def _persons(self, words, cats, join, hit, n) -> list[tuple]:
        """PER: a known first name followed by the rest of the name. (A title followed by
        unknown words is not enough: "السفير البريطاني سبل تعزيز التعاون".)"""
        out = []
        for i in range(n):
            c = cats[i]
            if hit[i]:
                continue
            if c & (B.FIRST_NAME | B.FIRST_NAME_WEAK) and not c & (B.STOP | B.TITLE):
                j = self._name_end(i, i + 1, words, cats, join, hit, n)
                if c & B.FIRST_NAME_WEAK and not (
                    j > i + 1 and (cats[i + 1] & (B.DEFINITE | B.FIRST_NAME | B.NAME_PARTICLE))
                ):
                    continue
                if j > i + 1:
                    out.append((i, j, "PER", "entity", 0.7, PRIO_RULE, j - i))
        return out

    def _name_end(self, start, j, words, cats, join, hit, n) -> int:
        """End of a name that begins at `start`: the next word, then more words only when they
        look like names (ال..., another first name, after بن/أبو/عبد/آل). A word with "و" in
        front starts another name (محمد علي وأحمد حسن), and a preposition with the article
        (بالتحدث) is never part of one. Particles (بن، آل) do not end a name."""
        while j < n and j - start < 7 and join[j - 1] and self._plain(j, cats, hit):
            c = cats[j]
            prev = cats[j - 1]
            if c & (B.NOT_A_NAME | B.CONJ | B.PREP_ARTICLE | B.LATIN_ACRONYM | B.LATIN_NAME):
                break
            if (
                j == start + 1
                or prev & B.NAME_PARTICLE
                or c & (B.FIRST_NAME | B.NAME_PARTICLE | B.DEFINITE)
            ):
                j += 1
                if c & B.NAME_PARTICLE and (j >= n or not join[j - 1] or hit[j]):
                    return j - 1
            else:
                break
        while j - 1 > start and cats[j - 1] & B.NAME_PARTICLE:
            j -= 1
        return j

    def _facilities_and_orgs(self, cands, words, cats, join, hit, n) -> list[tuple]:
        """FAC: facility word + place name or unknown name; ORG: army/police + nationality
        adjective, university/municipality + place name."""
        starts: dict[int, int] = {}
        for s, e, label, _kind, _score, prio, _size in cands:
            if prio == PRIO_GAZ and label in ("GPE", "LOC"):
                starts[s] = max(starts.get(s, 0), e)
        out = []
        for i in range(n - 1):
            c = cats[i]
            if not join[i]:
                continue
            if c & B.FACILITY and not hit[i]:
                if i + 1 in starts:
                    e = starts[i + 1]
                    out.append((i, e, "FAC", "entity", 0.8, PRIO_RULE, e - i))
                elif self._plain(i + 1, cats, hit) and not cats[i + 1] & (B.NOT_A_NAME | B.NISBA):
                    e = i + 2
                    if (
                        e < n
                        and join[e - 1]
                        and self._plain(e, cats, hit)
                        and not cats[e] & (B.NOT_A_NAME | B.NISBA)
                    ):
                        e += 1
                    out.append((i, e, "FAC", "entity", 0.55, PRIO_RULE, e - i))
            elif (
                c & B.ORG_HEAD
                and cats[i + 1] & B.NISBA_DEF
                and not hit[i + 1]
                # the adjective agrees with the head (الجيش السوري, الشرطة التركية); after a
                # title it describes the person: وزير الخارجية الأردني
                and words[i].key.endswith("ه") == words[i + 1].key.endswith("ه")
                and not (i > 0 and cats[i - 1] & B.TITLE)
            ):
                out.append((i, i + 2, "ORG", "entity", 0.8, PRIO_RULE, 2))
            elif c & B.ORG_TYPE_GPE and i + 1 in starts:
                e = starts[i + 1]
                out.append((i, e, "ORG", "entity", 0.7, PRIO_RULE, e - i))
            elif c & B.LOC_TYPE and i + 1 in starts and not hit[i]:
                # a geographic feature word is part of the place it names: وادي الفرات
                e = starts[i + 1]
                out.append((i, e, "LOC", "entity", 0.75, PRIO_RULE, e - i))
            elif c & B.MEDIA and not c & B.DEFINITE and not hit[i] and not hit[i + 1]:
                # a newspaper or channel + its name (construct state): صحيفة اليوم، قناة المنار
                nxt = cats[i + 1]
                if nxt & (B.RELATIVE_DAY | B.LATIN_ACRONYM | B.LATIN_NAME) or (
                    nxt & B.DEFINITE and self._plain(i + 1, cats, hit) and not nxt & B.NOT_A_NAME
                ):
                    out.append((i, i + 2, "ORG", "entity", 0.6, PRIO_RULE, 2))
        return out

    @staticmethod
    def _latin(cats, join, hit, n) -> list[tuple]:
        """ORG: a Latin-script acronym (CNN, IBM), or a Latin-script name after an
        organisation type word (شركة Dell); the type word is added by `_extend`."""
        out = []
        for i in range(n):
            c = cats[i]
            if hit[i]:
                continue
            if c & B.LATIN_ACRONYM:
                out.append((i, i + 1, "ORG", "entity", 0.5, PRIO_RULE, 1))
            elif (
                c & B.LATIN_NAME and i > 0 and join[i - 1] and cats[i - 1] & (B.ORG_TYPE | B.MEDIA)
            ):
                out.append((i, i + 1, "ORG", "entity", 0.6, PRIO_RULE, 1))
        return out

    @staticmethod
    def _drones(chosen, words, cats) -> None:
        """A lone مسيرة is a drone (VEH) when written مسيّرة, or in a sentence about an attack
        that reports no other protest; otherwise a march."""
        marches = [c for c in chosen if c[2] == "Conflict.Demonstrate"]
        if not marches:
            return
        attack = any(c[2] == "Conflict.Attack" for c in chosen)
        for c in marches:
            w = c[0]
            if c[1] - w != 1 or words[w].levels[3].isdisjoint(_MARCH_OR_DRONE):
                continue
            if cats[w] & B.SHADDA_YA or (attack and len(marches) == 1):
                c[2], c[3], c[4] = "VEH", "entity", 0.6

    @staticmethod
    def _extend(chosen, used, cats, join, n, words) -> None:
        """Add the type word before an organisation name, the nationality adjective after it, and
        the type adjective after a weapon or vehicle noun."""
        for c in chosen:
            s, e, label = c[0], c[1], c[2]
            if label == "ORG":
                if s > 0 and not used[s - 1] and join[s - 1] and cats[s - 1] & B.ORG_TYPE:
                    s -= 1
                    used[s] = True
                if e < n and not used[e] and join[e - 1] and cats[e] & B.NISBA_DEF:
                    used[e] = True
                    e += 1
            elif label in ("WEA", "VEH") and e - s == 1:
                if e < n and not used[e] and join[e - 1] and cats[e] & B.TYPE_ADJECTIVE:
                    used[e] = True
                    e += 1
            elif label == "FAC":
                if e < n and not used[e] and join[e - 1] and cats[e] & B.FACILITY_ADJECTIVE:
                    used[e] = True
                    e += 1
            elif label == "PER":
                if s > 0 and not used[s - 1] and join[s - 1] and cats[s - 1] & B.NAME_PARTICLE:
                    if words[s - 1].key in _KUNYA:
                        s -= 1  # a kunya: أبو فراس الهفل
                        used[s] = True
                    elif (
                        s > 1
                        and not used[s - 2]
                        and join[s - 2]
                        and cats[s - 2] & (B.FIRST_NAME | B.FIRST_NAME_WEAK)
                    ):
                        # a first name + بن/آل before a known name: حمدان بن محمد بن راشد
                        s -= 2
                        used[s] = used[s + 1] = True
            c[0], c[1] = s, e

    @staticmethod
    def _counts(chosen, used, words, cats, join, n) -> list[list]:
        """NUM: a number next to a casualty trigger or a noun for people, in a sentence that
        reports deaths, injuries, arrests, releases or displacement."""
        triggers = [(c[0], c[1]) for c in chosen if c[3] == "trigger" and c[2] in CASUALTY_EVENTS]
        if not triggers:
            return []
        out = []
        i = 0
        while i < n:
            c = cats[i]
            if used[i] or not c & (B.NUMBER | B.DIGITS) or words[i].key in ("احد", "احدي"):
                i += 1
                continue
            j = i + 1
            while (
                j < n
                and join[j - 1]
                and not used[j]
                and cats[j] & (B.NUMBER | B.NUMBER_SCALE | B.DIGITS)
            ):
                j += 1
            nxt = cats[j] if j < n and join[j - 1] else 0
            ok = False
            if nxt & B.UNIT or (j - i == 1 and c & B.YEAR and not nxt & B.PERSON_NOUN):
                ok = False
            elif nxt & B.PERSON_NOUN or (
                j + 1 < n and words[j].key == "من" and join[j] and cats[j + 1] & B.PERSON_NOUN
            ):
                ok = True
            elif i > 0 and join[i - 1] and cats[i - 1] & B.PERSON_NOUN:
                ok = True
            else:
                ok = any(0 <= i - te <= 2 for _, te in triggers) or any(
                    0 <= ts - j <= 1 for ts, _ in triggers
                )
            if ok:
                for k in range(i, j):
                    used[k] = True
                out.append([i, j, "NUM", "entity", 0.75])
            i = j
        return out


def merge_spans(primary: Iterable[Span], secondary: Iterable[Span]) -> list[Span]:
    """All primary spans, plus the secondary spans that overlap none of them, in text order."""
    primary = list(primary)
    taken = sorted((s.start, s.end) for s in primary)
    out = list(primary)
    for s in secondary:
        if not any(a < s.end and s.start < b for a, b in taken):
            out.append(s)
    return sorted(out, key=lambda s: (s.start, s.end, s.kind, s.label))
