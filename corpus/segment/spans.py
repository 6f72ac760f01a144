"""Arabic sentence segmentation: exact code-point spans into the canonical article text.

`sentence_spans(text)` finds candidate boundaries with one compiled regex scan (terminator runs,
line breaks, parentheticals to skip) and vets in Python only the candidates that need it
(abbreviations, list markers, headlines), so throughput stays well above 10 M characters per
second on one core. `segment_batch` is the stage function: articles in, SENTENCES rows out.

Rules (each one has a test in tests/test_segment.py):
- a run of `.` `!` `?` `؟` `…` `۔` (`؟!`, `...`, `..`; also `‼` `⁉` and fullwidth forms) ends a
  sentence when whitespace or the end of the text follows; closing quotes, brackets and bidi
  marks right after it stay with the sentence;
- every line break ends a sentence (a headline on its own line is a sentence); inside a headline
  (a short line ending without a terminator) `..` joins its parts instead;
- the scraped paragraph glue `.,` / `. ,` / `.،` ends a sentence; the comma belongs to no
  sentence (annotators never see it; the only characters no span covers besides whitespace);
  in an article that shows such glue and writes its commas as `،`, a bare Latin `, ` between
  Arabic words is the same glue with the period missing;
- a terminator glued between two Arabic words (`قال.وأضاف`) ends a sentence (missing space);
- no split at `،` `؛` `:`, inside numbers (`3.5`, `10.30`, `٢٫٥`), URLs, e-mail addresses,
  hashtags, after single-letter abbreviations and initials (`د.`, `أ. ف. ب.`, `ج.`, `J.`), dotted
  abbreviations (`U.S.`, `ق.م.`), Latin letters spelled in Arabic (`سي. آي. ايه.`), common Latin
  abbreviations (`Mr.`, `Inc.`), after a list marker opening a line (`1.`), or inside a short
  parenthetical (`(...)`, `(قال!)`); but `100 م.`, `1420 هـ.` and `ت غ.` (GMT) do end sentences;
- a piece with no letter, digit or symbol (a stray `.`, an invisible mark) joins a neighbour;
- with `max_chars > 0`, a longer sentence is cut at `؛`, else `،`, else whitespace (never inside
  a word or number), so that annotators get pieces of at most `max_chars` characters.
"""

from __future__ import annotations

import re

import pyarrow as pa
import regex

from corpus.ids import content_id
from corpus.schemas import SENTENCES

__all__ = ["sentence_spans", "segment_batch"]

_TERM = ".!?\u061f\u2026\u06d4\u203c\u2047\u2048\u2049\uff01\uff1f\u3002\uff61"
# Closers that stay with the sentence: quotes (both guillemet directions: Arabic sources use
# either), brackets, and the bidi marks editors leave after punctuation.
_CLOSE = "\"'\u201d\u2019\u00bb\u00ab\u203a\u2039)\\]}\u200e\u200f\u061c\u200c\u200d"
_LB = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"  # what str.splitlines() treats as a line break
_AR = (
    "\u0620-\u064a\u066e-\u06d3\u06d5\u06fa-\u06fc\u06ff\u0750-\u077f\u08a0-\u08c9"
    "\ufb50-\ufdfb\ufe70-\ufefc"
)
_MARKS = "\u0640\u064b-\u065f\u0670"  # tatweel and diacritics
_ARW = _AR + "\u064b-\u065f\u0670"  # letters plus the diacritics a word may end with
_PAREN_MAX = 120  # a longer bracketed stretch is prose, split normally
_HEADLINE_MAX = 200


def _run_tail(name: str) -> str:
    """A terminator run's rest: closers, then whitespace, the end, or the `.,` glue (`<name>g`)."""
    return (
        rf"(?P<{name}>[{_TERM}]*(?:[{_CLOSE}]+[{_TERM}]*)*)"
        rf"(?:(?P<{name}g>[^\S{_LB}]*[,\u060c])(?=\s|\Z|[^\W\d_])|(?=\s|\Z))"
    )


# One scan finds and sorts every candidate. It opens with a character class so the regex engine
# skips ordinary text quickly (an alternation of groups would be tried at every position, ~6x
# slower); lookbehinds then tell which kind of candidate that first character starts. The group
# that matched says what Python still has to check: nothing for the common `run`.
_SCAN = re.compile(
    rf"[({_LB}{_TERM}]"
    # A short parenthetical is consumed whole: nothing inside it is a boundary.
    rf"(?:(?<=\()(?P<skip>[^(){_LB}]{{0,{_PAREN_MAX}}}\))"
    rf"|(?<=[{_LB}])(?P<br>\s*)"  # blank lines after it belong to no sentence
    # Missing space: `قال.وأضاف` (two Arabic letters on each side rules out `أ.ف.ب`).
    rf"|(?<=[{_ARW}][{_ARW}][.!\u061f])(?P<glued>[.!\u061f]*)(?=[{_AR}][{_ARW}])"
    # One `.` after a number or a word of fewer than six letters: maybe `د.`, `U.S.`, `1.`.
    rf"|(?<=[\w{_MARKS}]\.)(?<![^\W\d_]{{6}}\.)(?!\.){_run_tail('dot')}"
    # Exactly `..`: joins the parts of a headline.
    rf"|(?<!\.\.)(?<=\.)(?=\.(?!\.)){_run_tail('dd')}"
    rf"|(?<=[{_TERM}]){_run_tail('run')}"
    r")"
)
# `إيران, وشدد`: paragraph glue with the period missing (only in articles that show glue).
# Found from the comma (a literal first character keeps the scan fast), then checked leftwards.
_BARE_GLUE = re.compile(rf",(?=[^\S{_LB}]+[{_AR}])")
_GLUE_LEFT = re.compile(rf"[{_AR}\"\u201d\u00bb\u00ab)]")

_MARK_CHARS = frozenset("\u0640\u0670" + "".join(map(chr, range(0x064B, 0x0660))))
_OPENERS = "([{\"'\u00ab\u00bb\u201c\u2018\u201d\u2019\u2039\u203a\u2013\u2014-"
_SINGLE_LETTER = re.compile(f"[^\\W\\d_][{_MARKS}]*")
_DOTTED = re.compile(r"(?:[^\W\d_]{1,2}\.)+[^\W\d_]{1,2}")
_NUMBER = re.compile(r"[\d\u0660-\u0669\u06f0-\u06f9][\d\u0660-\u0669\u06f0-\u06f9.,\u066b\u066c]*")
_LIST_MARKER = re.compile(r"[\d\u0660-\u0669\u06f0-\u06f9]{1,3}|[ivxIVX]{1,4}")
_LATIN_ABBREV = frozenset(
    "mr mrs ms dr prof st jr sr inc ltd co corp vs gen col lt sgt capt gov sen rep mt ft no nos "
    "jan feb mar apr jun jul aug sep sept oct nov dec fig op vol pp dept est".split()
)
# Latin letters spelled in Arabic, as in `سي. آي. ايه.` (CIA) or `جون اف. كينيدي`. The ones that
# are also Arabic words (`ان`, `ام`, `اي`) are particles that never end a sentence.
_ARABIC_LETTER_NAMES = frozenset(
    "بي سي دي تي جي اف إف اي آي أي اى ار آر اس إس ام إم ال إل ان إن ايه إيه اتش إتش كيه كيو "
    "زد اكس إكس دبليو يو".split()
)
# A piece needs a letter, digit or symbol to be a sentence of its own.
_CONTENT = regex.compile(r"[^\p{P}\p{Z}\p{Cc}\p{Cf}\p{Cs}\p{Mn}\p{Me}\s]")
_VISIBLE = regex.compile(r"[^\p{Z}\p{Cc}\p{Cf}\p{Cs}\p{Mn}\p{Me}\s]")
_ABBREV_MAX = 12  # longer tokens are never abbreviations
_BREAK = re.compile(f"[{_LB}]")
_SPACE = re.compile(r"\s")  # `re`'s \s is exactly str.isspace()
# The same set for the `regex` module, whose \s leaves out U+001C..U+001F; searched backwards.
_LAST_SPACE = regex.compile(
    "[\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]", regex.REVERSE
)


def _token_before(text: str, end: int) -> str:
    """The short token ending at `end` (openers stripped), or "" if it is long or absent."""
    lo = end - _ABBREV_MAX
    chunk = text[max(lo, 0) : end]
    parts = chunk.split()
    if not parts or chunk[-1].isspace() or (lo > 0 and len(parts[-1]) == len(chunk)):
        return ""
    return parts[-1].lstrip(_OPENERS)


def _is_abbreviation(text: str, dot: int) -> bool:
    """Is the `.` at `dot` part of an abbreviation or initial rather than a full stop?"""
    tok = _token_before(text, dot)
    if not tok:
        return False
    if _SINGLE_LETTER.fullmatch(tok):
        prev = _token_before(text, dot - len(tok) - 1)
        # `100 م.` (metres, AD), `1420 هـ.` and `10،00 ت غ.` (GMT, no dots) end sentences;
        # `د. محمد` and `ج. ل. بايريس` do not.
        if tok[0] in "\u0645\u0647" and _NUMBER.fullmatch(prev):
            return False
        return not _SINGLE_LETTER.fullmatch(prev)
    if "." in tok:
        return _DOTTED.fullmatch(tok) is not None
    return tok in _ARABIC_LETTER_NAMES or tok.lower() in _LATIN_ABBREV


def _in_headline(text: str, line_start: int, s: int) -> bool:
    """Is `s` inside a headline: a short line that ends without a terminator?

    There `..` joins the parts of the headline (`يقصف ميليشيا شرقاً.. ومقتل 100`).
    """
    m = _BREAK.search(text, s, line_start + _HEADLINE_MAX + 1)
    end = m.start() if m else len(text)
    if end - line_start > _HEADLINE_MAX:
        return False
    tail = text[s + 2 : end].rstrip().rstrip(_CLOSE)
    return bool(tail) and tail[-1] not in _TERM


def _bare_glue_left(text: str, comma: int) -> bool:
    j = comma - 1
    while j >= 0 and text[j] in " \t":
        j -= 1
    return j >= 0 and _GLUE_LEFT.match(text, j) is not None


def _is_ellipsis(run: str) -> bool:
    return ".." in run or "\u2026" in run


def _cuts(text: str) -> tuple[list[int], set[int]]:
    """Positions where a sentence ends (before trimming whitespace), increasing, and the
    positions of the glue commas found there (they belong to no sentence)."""
    cuts: list[int] = []
    glue: set[int] = set()
    last = line_start = 0
    glue_seen = False
    for m in _SCAN.finditer(text):
        kind = m.lastgroup
        if kind == "run":  # the common case: a plain boundary
            last = m.end()
            cuts.append(last)
            continue
        if kind == "skip":
            continue
        s = m.start()
        if kind == "br":
            last = s
            line_start = s + 1
            cuts.append(s)
            continue
        if kind == "dot" or kind == "dotg":
            if text[s - 1].isdigit():
                # `1. ` opening a line is a list marker, not a sentence.
                if s - last < 8 and _LIST_MARKER.fullmatch(text[last:s].strip()):
                    continue
            elif _is_abbreviation(text, s):
                continue
        elif kind == "dd" or (kind == "glued" and m.end() - s == 2 and text[s : s + 2] == ".."):
            if _in_headline(text, line_start, s):
                continue
        elif kind == "ddg" or (kind == "rung" and _is_ellipsis(text[s : m.start(kind)])):
            continue  # `وغيرها...، و`: an ellipsis before a comma is a pause, not glue
        last = m.end()
        if kind[-1] == "g":
            # The sentence ends before the glue; the comma starts the next piece, which
            # `_spans_between` opens after it.
            glue_seen = True
            glue.add(last - 1)
            last = m.start(kind)
        cuts.append(last)
    if glue_seen and "," in text:
        bare = [m.start() for m in _BARE_GLUE.finditer(text) if _bare_glue_left(text, m.start())]
        if bare and text.count("\u060c") >= len(bare):
            cuts = sorted(set(cuts).union(bare))
            glue.update(bare)
    return cuts, glue


def _spans_between(
    text: str, cuts: list[int], glue: set[int] = frozenset()
) -> list[tuple[int, int]]:
    """Trimmed non-empty pieces between cuts, each opened after its glue comma if it starts
    with one; pieces without content join a neighbour."""
    out: list[tuple[int, int]] = []
    carry = carry_end = -1  # invisible pieces waiting for the next sentence
    prev = 0
    n = len(text)
    for c in (*cuts, n):
        if c <= prev:
            continue
        a, b = prev, c
        prev = c
        # Cheap trims: pieces usually start after one space and end at their cut.
        while a < b and text[a].isspace():
            a += 1
        if a < b and a in glue:
            a += 1
            while a < b and text[a].isspace():
                a += 1
        if a == b:
            continue
        while text[b - 1].isspace():
            b -= 1
        if not text[a].isalnum() and _CONTENT.search(text, a, b) is None:
            # A stray `.` joins the sentence before it on the same line; an invisible mark
            # (RLM, combining mark) always joins a neighbour.
            invisible = _VISIBLE.search(text, a, b) is None
            if out and (invisible or not _has_break(text, out[-1][1], a)):
                out[-1] = (out[-1][0], b)
                continue
            if invisible:
                carry = a if carry < 0 else carry
                carry_end = b
                continue
        if carry >= 0:
            a, carry = carry, -1
        out.append((a, b))
    if carry >= 0:  # nothing visible anywhere: keep it, every character stays covered
        out.append((carry, carry_end))
    return out


def _has_break(text: str, a: int, b: int) -> bool:
    return any(c in _LB for c in text[a:b])


def _trimmed(text: str, a: int, b: int) -> tuple[int, int] | None:
    seg = text[a:b]
    left = seg.lstrip()
    if not left:
        return None
    return a + len(seg) - len(left), a + len(seg.rstrip())


def _split_long(text: str, a: int, b: int, max_chars: int) -> list[tuple[int, int]]:
    """Cut [a, b) into pieces of at most `max_chars` at `؛`, else `،`, else whitespace."""
    out: list[tuple[int, int]] = []
    while b - a > max_chars:
        cut = _cut_point(text, a, a + max_chars)
        if cut < 0:  # one word longer than the limit: keep it whole
            nxt = _SPACE.search(text, a + max_chars, b)
            if nxt is None:
                break
            cut = nxt.start()
        piece = _trimmed(text, a, cut)
        if piece:
            out.append(piece)
        rest = _trimmed(text, cut, b)
        if rest is None:
            return out
        a = rest[0]
    out.append((a, b))
    return out


def _cut_point(text: str, a: int, limit: int) -> int:
    """Best end for a piece starting at `a` and ending by `limit` (-1 if none).

    The last `؛` (or `;`) that leaves the piece at least half full, else such a `،` (or `,`),
    else the last whitespace: a tiny piece cut at an early comma helps no annotator. A mark
    counts only when whitespace follows it (`1,000` and `2،5` are numbers).
    """
    half = a + (limit - a) // 2
    for marks in ("\u061b;", "\u060c,"):
        best = -1
        for mark in marks:
            i = text.rfind(mark, half, limit)
            while i >= 0 and not text[i + 1].isspace():
                i = text.rfind(mark, half, i)
            best = max(best, i + 1 if i >= 0 else -1)
        if best > half:
            return best
    m = _LAST_SPACE.search(text, a + 1, limit + 1)
    return m.start() if m else -1


def sentence_spans(text: str, max_chars: int = 0) -> list[tuple[int, int]]:
    """Sentence spans `[(start, end), ...]` into `text` (code points, end-exclusive).

    Spans are increasing, non-overlapping, have no surrounding whitespace and together cover
    every non-whitespace character except the scraped glue commas (`.,`), which belong to no
    sentence. With `max_chars > 0`, longer sentences are cut at `؛`, `،`
    or whitespace into pieces of at most `max_chars` (a single longer word stays whole).
    """
    spans = _spans_between(text, *_cuts(text))
    if max_chars > 0:
        spans = [p for a, b in spans for p in _split_long(text, a, b, max_chars)]
    return spans


def segment_batch(articles: pa.Table, max_chars: int = 0) -> pa.Table:
    """Articles (needs `article_id`, `text`) to SENTENCES rows, one per sentence span.

    `sentence_id` comes from (article_id, start, end), so a re-run gives the same ids, and
    `text == article.text[start:end]` always.
    """
    cols: dict[str, list] = {f.name: [] for f in SENTENCES}
    ids = articles.column("article_id").to_pylist()
    texts = articles.column("text").to_pylist()
    for article_id, text in zip(ids, texts, strict=True):
        for i, (a, b) in enumerate(sentence_spans(text or "", max_chars)):
            cols["sentence_id"].append(content_id(article_id, a, b, prefix="s"))
            cols["article_id"].append(article_id)
            cols["index"].append(i)
            cols["start"].append(a)
            cols["end"].append(b)
            cols["text"].append(text[a:b])
    return pa.table(cols, schema=SENTENCES)
