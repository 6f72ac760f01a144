"""Arabic-aware token features for the CRF backend.

Tokens come from the project's tokenizer (`corpus.publish.tokens.token_spans`), so every token has
exact code-point offsets into the sentence. Features are computed on a matching-only form of each
token (`corpus.text.normalize_for_matching`: diacritics and tatweel removed, alef forms, alef
maqsura and ta marbuta folded); the text itself is never changed.

Per token: the normalised form, its clitic-stripped stem (conjunction و/ف, preposition ب/ك/ل,
article ال, pronoun suffixes) and which clitics were stripped, prefixes and suffixes, shape
(Arabic / Latin / digits / punctuation, length), the lexicon's gazetteer and trigger hits for the
word, and the lexicon's span labels in this sentence (B-/I- of its label). Then the same for the
neighbouring words (a window of two), and word bigrams. Word-level features are cached per
distinct token string: news repeats words, so most tokens cost one dictionary lookup.
"""

from __future__ import annotations

from collections.abc import Sequence

from corpus.text import PUNCTUATION, normalize_for_matching

_CONJ = "وف"
_PREP = "بكل"
_SUFFIXES = ("هما", "هم", "هن", "ها", "نا", "كم", "ه", "ي", "ك")
_PUNCT = frozenset(PUNCTUATION)
# Bump when features change: a model trained with other features is refused, not misread.
FEATURE_VERSION = 2
_EDGE = {d: [f"w{d}=<edge>"] for d in (-2, -1, 1, 2)}


def strip_clitics(w: str) -> tuple[str, str, str]:
    """(proclitics, stem, enclitic) of a normalised word, stripping conservatively so short words
    and names survive: `والجيش` -> ("وال", "جيش", ""), `لقواتها` -> ("ل", "قوات", "ها")."""
    pre = ""
    if len(w) >= 4 and w[0] in _CONJ:
        pre, w = w[0], w[1:]
    if len(w) >= 4 and w[0] in _PREP:
        if w.startswith("لل") and len(w) >= 4:
            return pre + "لل", w[2:], ""
        pre, w = pre + w[0], w[1:]
    if w.startswith("ال") and len(w) >= 4:
        return pre + "ال", w[2:], ""
    for suf in _SUFFIXES:
        if w.endswith(suf) and len(w) - len(suf) >= 3:
            return pre, w[: -len(suf)], suf
    return pre, w, ""


def _shape(tok: str) -> str:
    if all(c in _PUNCT for c in tok):
        return "P"
    if tok.isdigit() or tok.replace(".", "").replace(",", "").isdigit():
        return "D"
    if any(c.isdigit() for c in tok):
        return "DX"
    if any("a" <= c <= "z" or "A" <= c <= "Z" for c in tok):
        return "U" if tok.isupper() else "L"
    return "A"


class Featurizer:
    """Token features for one sentence at a time (see the module docstring).

    `lexicon`: a `LexiconPrelabeler` whose gazetteer hits and spans become features, or None.
    """

    def __init__(self, lexicon=None, cache_size: int = 500_000):
        self.lexicon = lexicon
        self._cache: dict[str, tuple[list[str], str, str]] = {}
        self._cache_size = cache_size
        self.last_lexicon: tuple[str, list] | None = None  # (text, lexicon spans) of the last call

    def word(self, tok: str) -> tuple:
        """(own features, features as a neighbour at -2, -1, +1, +2, normalised form) of one
        token string, cached: building strings is most of the featurizer's cost."""
        got = self._cache.get(tok)
        if got is not None:
            return got
        if len(self._cache) >= self._cache_size:
            self._cache.clear()
        n = normalize_for_matching(tok)
        pre, stem, suf = strip_clitics(n)
        shape = _shape(tok)
        gaz = self._gazetteer(tok)
        own = [
            "b",
            "w=" + n,
            "s=" + stem,
            "pre=" + pre,
            "suf=" + suf,
            "sh=" + shape,
            "len=" + str(min(len(stem), 8)),
            "p2=" + stem[:2],
            "p3=" + stem[:3],
            "x2=" + stem[-2:],
            "x3=" + stem[-3:],
            "nx2=" + n[-2:],
            *gaz,
        ]
        if n != tok:
            own.append("diac")  # the word carried diacritics, tatweel or foldable letters
        near = {
            d: [f"w{d}=" + n, f"s{d}=" + stem, f"sh{d}=" + shape, *(f"{d}{g}" for g in gaz)]
            for d in (-1, 1)
        }
        far = {d: [f"w{d}=" + n] for d in (-2, 2)}
        got = (own, near[-1], near[1], far[-2], far[2], n)
        self._cache[tok] = got
        return got

    def _gazetteer(self, tok: str) -> list[str]:
        """The lexicon's pattern hits for this word: "g=GPE" for a one-word name or trigger,
        "gf=ORG" for the first word of a longer one. Empty when the lexicon offers none."""
        lex = self.lexicon
        if lex is None:
            return []
        try:
            hits = lex._word(tok).hits
        except (AttributeError, TypeError):  # a lexicon without per-word analyses
            return []
        out = set()
        for p in hits:
            if p.kind == "block":
                out.add("g=block")
            elif len(p.elems) == 1:
                out.add("g=" + p.label)
            else:
                out.add("gf=" + p.label)
        return sorted(out)

    def sentence(self, text: str, tokens: Sequence[tuple[int, int]]) -> list[list[str]]:
        """Feature lists for the tokens of one sentence."""
        word = self.word
        words = [word(text[a:b]) for a, b in tokens]
        lex = self._lexicon_tags(text, tokens)
        n = len(words)
        # Pad with edge markers so the loop needs no bounds checks.
        edge = (None, _EDGE[1], _EDGE[1], _EDGE[2], _EDGE[2], "<edge>")
        pre = (None, _EDGE[-1], _EDGE[-1], _EDGE[-2], _EDGE[-2], "<edge>")
        padded = [pre, pre, *words, edge, edge]
        out = []
        for i in range(n):
            w = padded[i + 2]
            f = w[0] + padded[i + 1][1] + padded[i + 3][2] + padded[i][3] + padded[i + 4][4]
            f.append("bg-=" + padded[i + 1][5] + "|" + w[5])
            f.append("bg+=" + w[5] + "|" + padded[i + 3][5])
            if lex is not None:
                tag = lex[i]
                if tag:
                    f.append("L=" + tag)
                    f.append("Ll=" + tag[2:])
                if i >= 1 and lex[i - 1]:
                    f.append("L-1=" + lex[i - 1])
                if i + 1 < n and lex[i + 1]:
                    f.append("L1=" + lex[i + 1])
            out.append(f)
        return out

    def _lexicon_tags(self, text: str, tokens: Sequence[tuple[int, int]]) -> list[str] | None:
        """B-/I- of the lexicon's span label over each token ("" outside its spans); None when
        the lexicon found nothing."""
        if self.lexicon is None or not tokens:
            return None
        import bisect

        found = self.lexicon.predict(text)
        self.last_lexicon = (text, found)
        if not found:
            return None
        ends = [b for _a, b in tokens]
        starts = [a for a, _b in tokens]
        tags = [""] * len(tokens)
        for s in found:
            i0 = bisect.bisect_right(ends, s.start)
            i1 = bisect.bisect_left(starts, s.end)
            for k in range(i0, i1):
                if not tags[k]:
                    tags[k] = ("B-" if k == i0 else "I-") + s.label
        return tags
