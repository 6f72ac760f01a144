"""Canonical article text, and Arabic normalisation for matching only.

Ingest fixes each article's text once with `canonicalize`; from then on every offset points into
that canonical text. `normalize_for_matching` may change lengths and is never shown to annotators.
"""

from __future__ import annotations

import html
import re
import unicodedata

import numpy as np

# Removed by canonicalisation: invisible characters that only get in the way of matching and
# display: BOM / zero-width no-break space, zero-width space, word joiner, soft hyphen, other C0/C1
# controls, and the bidi embedding/override/isolate controls (unbalanced ones garble a sentence
# shown on its own). Kept: LRM/RLM/ALM marks (harmless), ZWJ/ZWNJ (emoji sequences, Persian).
_INVISIBLE = re.compile(
    "[\ufeff\u200b\u2060\u00ad\u202a-\u202e\u2066-\u2069"
    "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufff9-\ufffb]"
)
_NEWLINES = re.compile(r"\r\n?|[\u2028\u2029\x85]")
_ENTITY = re.compile(r"&(#\d+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]{1,31});")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")
# Scraped pages leave scripts and style sheets in the text: never article text, so removed whole.
_SCRIPT = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)

_ARABIC_RANGES = [
    (0x0620, 0x064A),
    (0x066E, 0x06D3),
    (0x06D5, 0x06D5),
    (0x06FA, 0x06FC),
    (0x06FF, 0x06FF),
    (0x0750, 0x077F),
    (0x08A0, 0x08C9),
    (0xFB50, 0xFDFB),
    (0xFE70, 0xFEFC),
]
# Lookup tables over the Basic Multilingual Plane: vectorised counting is ~10x faster than regex.
_IS_LETTER = np.array([chr(c).isalpha() for c in range(0x10000)], dtype=bool)
_IS_ARABIC = np.zeros(0x10000, dtype=bool)
for _lo, _hi in _ARABIC_RANGES:
    _IS_ARABIC[_lo : _hi + 1] = True
_IS_ARABIC &= _IS_LETTER


# Characters that mean `canonicalize` has work to do (checked in one vectorised pass, since most
# scraped articles need none of the rewriting steps).
_NEEDS_WORK = np.zeros(0x10000, dtype=bool)
for _c in "<\r\u2028\u2029\x85&\ufeff\u200b\u2060\u00ad\x7f\ufff9\ufffa\ufffb":
    _NEEDS_WORK[ord(_c)] = True
for _lo, _hi in [
    (0x00, 0x08),
    (0x0B, 0x0C),
    (0x0E, 0x1F),
    (0x80, 0x9F),
    (0x202A, 0x202E),
    (0x2066, 0x2069),
]:
    _NEEDS_WORK[_lo : _hi + 1] = True


def _needs_work(text: str) -> bool:
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return (
        bool(_NEEDS_WORK[np.minimum(codes, 0xFFFF)].any())
        or "\n" in text
        and (" \n" in text or "\t\n" in text)
    )


def canonicalize(text: str) -> str:
    """The canonical form of an article's text (documented in the README):

    HTML entities decoded (twice-escaped `&amp;quot;` included), `<script>` and `<style>` blocks
    removed (tags and content), line breaks `\\r\\n`, `\\r`,
    U+2028/2029/0085 turned into `\\n`, Unicode NFC, invisible format and control characters
    removed (see `_INVISIBLE`), spaces before a line break and around the whole text trimmed.
    Idempotent: `canonicalize(canonicalize(t)) == canonicalize(t)`.
    """
    if not _needs_work(text):
        if not unicodedata.is_normalized("NFC", text):
            text = unicodedata.normalize("NFC", text)
            return canonicalize(text)
        return text.strip()
    for _ in range(2):  # scraped text is often escaped twice
        if "&" not in text or not _ENTITY.search(text):
            break
        text = html.unescape(text)
    while "<" in text and (stripped := _SCRIPT.sub("", text)) != text:
        text = stripped  # again: removing one block can join the pieces of another
    text = _NEWLINES.sub("\n", text)
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    text = _INVISIBLE.sub("", text)
    text = _TRAILING_SPACE.sub("\n", text)
    text = text.strip()
    # Removing characters can expose a new composable pair or entity; settle to a fixed point.
    if not unicodedata.is_normalized("NFC", text):
        return canonicalize(text)
    return text


def arabic_ratio(text: str) -> float:
    """Share of letters that are Arabic script (0.0 when the text has no letters).

    Letters outside the Basic Multilingual Plane (rare scripts, not emoji) count as non-Arabic.
    """
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    bmp = np.minimum(codes, 0xFFFF)
    letters = int(np.count_nonzero(_IS_LETTER[bmp] & (codes <= 0xFFFF)))
    letters += int(np.count_nonzero(codes > 0xFFFF)) and sum(
        1 for c in text if ord(c) > 0xFFFF and c.isalpha()
    )
    if not letters:
        return 0.0
    return int(np.count_nonzero(_IS_ARABIC[bmp] & (codes <= 0xFFFF))) / letters


# Matching-only normalisation: alef forms to bare alef, alef maqsura to ya, ta marbuta to ha,
# diacritics and tatweel removed, Arabic-Indic digits to ASCII. Changes lengths. A chain of
# str.replace is ~40x faster than str.translate with a dict here.
_DIACRITICS = re.compile(r"[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]+")
_FOLD = (
    ("\u0623", "\u0627"),
    ("\u0625", "\u0627"),
    ("\u0622", "\u0627"),
    ("\u0671", "\u0627"),
    ("\u0649", "\u064a"),
    ("\u0629", "\u0647"),
)
_DIGITS = re.compile("[\u0660-\u0669\u06f0-\u06f9]")
PUNCTUATION = (
    "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~\u00ab\u00bb\u060c\u061b\u061f\u066a\u066b\u066c\u066d\u06d4"
    "\u2010\u2011\u2012\u2013\u2014\u2015\u2018\u2019\u201c\u201d\u2026\u2022"
)


def normalize_for_matching(text: str) -> str:
    """Arabic text folded for comparison (dedup, lexicon lookups); never shown to annotators."""
    text = _DIACRITICS.sub("", text)
    for a, b in _FOLD:
        text = text.replace(a, b)
    if _DIGITS.search(text):
        for i in range(10):
            text = text.replace(chr(0x0660 + i), str(i)).replace(chr(0x06F0 + i), str(i))
    return text.lower()


def match_words(text: str) -> list[str]:
    """Normalised whitespace-separated words with surrounding punctuation stripped."""
    return [w for w in (x.strip(PUNCTUATION) for x in normalize_for_matching(text).split()) if w]
