"""Word tokens with exact code-point offsets, and BIO tags for entity and trigger spans.

Tokenization follows camel-tools' `simple_word_tokenize` (split on whitespace, every Unicode
punctuation or symbol character is a token of its own, emoji sequences stay whole, digits stay
inside words), with one deliberate difference: a hashtag (`#` followed by word characters and
`_`, e.g. `#دير_الزور`) is one token, and the invisible direction marks LRM, RLM and ALM
separate tokens like spaces instead of sticking to a word (ingest keeps them in the text).
Diacritics and tatweel are word characters, so they stay inside their token. camel-tools returns strings only; here every token has `[start, end)` offsets
into the sentence text, so `text[start:end] == token` always.

Two implementations of the same rules:

- `token_spans(text)`: the per-item core (one regular expression), the definition.
- `TokenTagger` / `tokenize_batch`: the batch function used by publish. It classifies every
  code point of a whole batch with numpy (a million sentences in seconds instead of minutes)
  and sends the rare sentences with multi-character emoji back to the core. Property tests
  check that both agree on every input.

BIO tagging: a span tags every token it overlaps (`B-` first, `I-` after). Spans whose edges
fall inside a token (e.g. `الجيش` inside `والجيش`) are still tagged but counted as misaligned;
spans overlapping an earlier span of the same kind (earlier start first, then longer first) and
spans covering only whitespace cannot be BIO-encoded and are dropped and counted.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# What separates tokens without being one: exactly the characters Python's str.split() splits
# on (what camel-tools uses; it differs from regex's \s in \x1c-\x1f), plus the direction marks.
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
DIRECTION_MARKS = "\u200e\u200f\u061c"  # LRM, RLM, ALM
SEPARATORS = WHITESPACE + DIRECTION_MARKS
_WS = (
    "\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f"
    "\\u205f\\u3000\\u200e\\u200f\\u061c"
)

_TOKEN_PATTERN = rf"""
    # emoji sequences: flags, keycaps, pictographs with a modifier / VS16 and ZWJ chains
      \p{{RI}}\p{{RI}}
    | [0-9\#*]\uFE0F?\u20E3
    | \p{{Extended_Pictographic}}(?:\p{{EMod}}|\uFE0F)?
        (?:\u200D\p{{Extended_Pictographic}}(?:\p{{EMod}}|\uFE0F)?)*
    # a hashtag: '#' and a run of word characters and connector punctuation ('_')
    | \#(?:[^{_WS}\p{{P}}\p{{S}}\p{{Extended_Pictographic}}]|\p{{Pc}})+
    # any other punctuation or symbol: a token of its own
    | [\p{{P}}\p{{S}}]
    # a word: a run of anything else (letters, marks incl. diacritics, tatweel, digits)
    | (?:[^{_WS}\p{{P}}\p{{S}}\p{{Extended_Pictographic}}0-9]|[0-9](?!\uFE0F?\u20E3))+
    | [^{_WS}]
"""

# Code-point classes for the batch tokenizer (must describe the same rules as the pattern).
_SPACE, _WORD, _SYM, _HASH, _UNDER = 0, 1, 2, 3, 4


@cache
def _token_re():
    import regex  # lazily: only when tokenizing

    return regex.compile(_TOKEN_PATTERN, regex.VERBOSE)


@cache
def _tables() -> tuple[np.ndarray, np.ndarray]:
    """(class of every code point, True where a code point may start a multi-character emoji).

    Built once from the same Unicode properties as the pattern (~0.3 s).
    """
    import regex

    cls = np.full(0x110000, _WORD, dtype=np.uint8)
    # every code point except surrogates, which cannot occur in valid UTF-8 text
    everything = "".join(map(chr, range(0xD800))) + "".join(map(chr, range(0xE000, 0x110000)))

    def mark(table: np.ndarray, pattern: str, value) -> None:
        for m in regex.finditer(pattern, everything):
            a, b = m.span()
            a, b = (a, b) if a < 0xD800 else (a + 0x800, b + 0x800)
            table[a:b] = value

    mark(cls, r"[\p{P}\p{S}\p{Extended_Pictographic}]+", _SYM)
    mark(cls, r"\p{Pc}+", _UNDER)
    cls[ord("#")] = _HASH
    for ch in SEPARATORS:
        cls[ord(ch)] = _SPACE
    complex_ = np.zeros(0x110000, dtype=bool)
    mark(complex_, r"[\uFE0F\u200D\u20E3\p{EMod}\p{RI}]+", True)
    return cls, complex_


def token_spans(text: str) -> list[tuple[int, int]]:
    """`[(start, end), ...]` of the tokens of `text`, in order (code points, end-exclusive)."""
    return [m.span() for m in _token_re().finditer(text)]


def tokenize(text: str) -> list[str]:
    """The tokens of `text` as strings (see the module docstring for the rules)."""
    return [text[a:b] for a, b in token_spans(text)]


# --- BIO tagging --------------------------------------------------------------------------------


def bio_names(types: Sequence[str]) -> list[str]:
    """ClassLabel names: `O`, then `B-T`, `I-T` for every type in order (ids 0, 2k+1, 2k+2)."""
    return ["O"] + [f"{p}-{t}" for t in types for p in ("B", "I")]


@dataclass(slots=True)
class AlignmentCounts:
    """What happened to the spans of one kind while tagging."""

    spans: int = 0  # spans seen
    tagged: int = 0  # spans written as tags (aligned + misaligned)
    misaligned: int = 0  # tagged, but an edge falls inside a token
    overlapping: int = 0  # dropped: overlaps an earlier span of the same kind
    empty: int = 0  # dropped: covers no token (whitespace only)

    def add(self, other: AlignmentCounts) -> None:
        for f in ("spans", "tagged", "misaligned", "overlapping", "empty"):
            setattr(self, f, getattr(self, f) + getattr(other, f))

    def as_dict(self) -> dict[str, int]:
        return {
            "spans": self.spans,
            "tagged": self.tagged,
            "misaligned": self.misaligned,
            "overlapping": self.overlapping,
            "empty": self.empty,
        }


def bio_tags(
    tokens: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int, int]]
) -> tuple[list[int], AlignmentCounts]:
    """BIO tag ids for `tokens` from `spans` `(start, end, type_index)` (per-item core).

    Tag ids follow `bio_names`: 0 is O, `2k+1` is B- and `2k+2` is I- of type k.
    """
    tags = [0] * len(tokens)
    counts = AlignmentCounts(spans=len(spans))
    starts = [a for a, _ in tokens]
    ends = [b for _, b in tokens]
    for s, e, k in sorted(spans, key=lambda x: (x[0], -x[1], x[2])):
        i0 = bisect.bisect_right(ends, s)  # first token ending after the span start
        i1 = bisect.bisect_left(starts, e)  # first token starting at or after the span end
        if i1 <= i0:
            counts.empty += 1
            continue
        if any(tags[i0:i1]):
            counts.overlapping += 1
            continue
        counts.tagged += 1
        if starts[i0] != s or ends[i1 - 1] != e:
            counts.misaligned += 1
        tags[i0] = 2 * k + 1
        tags[i0 + 1 : i1] = [2 * k + 2] * (i1 - i0 - 1)
    return tags, counts


# --- batch --------------------------------------------------------------------------------------


@dataclass(slots=True)
class _BatchTokens:
    """Tokens of a batch of texts, flattened: global code-point offsets into the joined text."""

    text_starts: np.ndarray  # int64 (n + 1,): where each text starts in the joined text
    starts: np.ndarray  # int64 (T,) global token starts, ascending
    ends: np.ndarray  # int64 (T,)
    row: np.ndarray  # int64 (T,) the text each token belongs to
    strings: pa.Array  # string (T,)


def _batch_tokens(texts: list[str]) -> _BatchTokens:
    """Tokenize many texts at once (numpy over code points; see the module docstring)."""
    cls_table, complex_table = _tables()
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    text_starts = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=text_starts[1:])
    joined = "".join(texts)
    cp = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    n = cp.size
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return _BatchTokens(text_starts, empty, empty, empty, pa.array([], pa.string()))
    cls = cls_table[cp]
    text_start = np.zeros(n + 1, dtype=bool)  # a token never continues across texts
    text_start[text_starts[:-1][lengths > 0]] = True
    text_start[n] = True

    # Hashtag bodies: the run of word/underscore characters right after a '#'.
    ext = (cls == _WORD) | (cls == _UNDER)
    ext_start = ext & (text_start[:n] | ~np.concatenate(([False], ext[:-1])))
    run_id = np.cumsum(ext_start, dtype=np.int32)  # run number of each ext position
    hashes = np.flatnonzero(cls[:-1] == _HASH)
    hashes = hashes[ext[hashes + 1] & ~text_start[hashes + 1]]
    body_run = np.zeros(int(run_id[-1]) + 1, dtype=bool)
    body_run[run_id[hashes + 1]] = True
    in_body = ext & body_run[run_id]

    word = (cls == _WORD) & ~in_body
    prev_word = np.concatenate(([False], word[:-1]))
    joins_previous = ((word & prev_word) | in_body) & ~text_start[:n]
    nonspace = cls != _SPACE
    is_start = nonspace & ~joins_previous
    next_joins = np.concatenate((joins_previous[1:], [False]))
    is_last = nonspace & ~next_joins
    starts = np.flatnonzero(is_start)
    ends = np.flatnonzero(is_last) + 1
    row = np.searchsorted(text_starts, starts, side="right") - 1

    # Sentences with multi-character emoji: the regex core decides (rare in news text).
    complex_rows = np.unique(
        np.searchsorted(text_starts, np.flatnonzero(complex_table[cp]), side="right") - 1
    )
    if complex_rows.size:
        keep = ~np.isin(row, complex_rows)
        extra = [
            (text_starts[r] + a, text_starts[r] + b, r)
            for r in complex_rows.tolist()
            for a, b in token_spans(texts[r])
        ]
        ex = np.array(extra, dtype=np.int64).reshape(-1, 3)
        starts = np.concatenate((starts[keep], ex[:, 0]))
        ends = np.concatenate((ends[keep], ex[:, 1]))
        row = np.concatenate((row[keep], ex[:, 2]))
        order = np.argsort(starts, kind="stable")
        starts, ends, row = starts[order], ends[order], row[order]

    return _BatchTokens(text_starts, starts, ends, row, _slice_strings(joined, cp, starts, ends))


def _slice_strings(joined: str, cp: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> pa.Array:
    """The substrings `joined[starts[i]:ends[i]]` as an Arrow string array, without Python loops."""
    t = starts.size
    if t == 0:
        return pa.array([], pa.string())
    # UTF-8 byte offset of every code point, so the token strings are slices of one buffer.
    width = 1 + (cp >= 0x80).astype(np.int64) + (cp >= 0x800) + (cp >= 0x10000)
    byte_at = np.zeros(cp.size + 1, dtype=np.int64)
    np.cumsum(width, out=byte_at[1:])
    data = joined.encode("utf-8", "surrogatepass")
    # Interleave tokens and the gaps between them: token i is piece 2i.
    bounds = np.empty(2 * t, dtype=np.int64)
    bounds[0::2] = byte_at[starts]
    bounds[1::2] = byte_at[ends]
    pieces = pa.LargeStringArray.from_buffers(2 * t - 1, pa.py_buffer(bounds), pa.py_buffer(data))
    return pc.take(pieces, pa.array(np.arange(0, 2 * t - 1, 2))).cast(pa.string())


COUNT_FIELDS = ("spans", "tagged", "misaligned", "overlapping", "empty")


def _batch_bio(
    bt: _BatchTokens, spans: pa.Array, label_field: str, types: Sequence[str], what: str, ids
) -> tuple[pa.Array, dict[str, np.ndarray]]:
    """Tag ids (flat, one per token) for the list-of-span column `spans` (batch BIO core), and
    the alignment counts of each row (`COUNT_FIELDS` -> one int per row)."""
    n = len(spans)
    counts = {f: np.zeros(n, dtype=np.int64) for f in COUNT_FIELDS}
    tags = np.zeros(bt.starts.size, dtype=np.int64)
    flat = pc.list_flatten(spans)
    if len(flat):
        parent = pc.list_parent_indices(spans).to_numpy().astype(np.int64)
        s = pc.struct_field(flat, "start").to_numpy(zero_copy_only=False).astype(np.int64)
        e = pc.struct_field(flat, "end").to_numpy(zero_copy_only=False).astype(np.int64)
        labels = pc.struct_field(flat, label_field)
        k = pc.index_in(labels, value_set=pa.array(list(types), pa.string()))
        if k.null_count:
            bad = int(np.flatnonzero(k.is_null().to_numpy(zero_copy_only=False))[0])
            raise ValueError(
                f"sentence {ids[int(parent[bad])]}: {what} label {labels[bad].as_py()!r} "
                f"is not in the ontology ({', '.join(types)})"
            )
        k = k.to_numpy().astype(np.int64)
        length = np.diff(bt.text_starts)[parent]
        if ((s < 0) | (e <= s) | (e > length)).any():
            bad = int(np.flatnonzero((s < 0) | (e <= s) | (e > length))[0])
            raise ValueError(
                f"sentence {ids[int(parent[bad])]}: {what} span [{s[bad]}, {e[bad]}) is outside "
                f"the sentence (length {length[bad]})"
            )
        a = bt.text_starts[parent] + s
        b = bt.text_starts[parent] + e
        i0 = np.searchsorted(bt.ends, a, side="right")
        i1 = np.searchsorted(bt.starts, b, side="left")
        empty = i1 <= i0
        counts["spans"] = np.bincount(parent, minlength=n)
        counts["empty"] = np.bincount(parent[empty], minlength=n)
        live = np.flatnonzero(~empty)
        order = live[np.lexsort((-i1[live], i0[live]))]
        # A span overlaps an earlier one iff it starts before the furthest end seen so far
        # (token ranges of different sentences never interleave).
        furthest = np.maximum.accumulate(i1[order])
        clash = np.zeros(order.size, dtype=bool)
        clash[1:] = i0[order][1:] < furthest[:-1]
        slow_rows = np.unique(parent[order][clash])
        fast = order[~np.isin(parent[order], slow_rows)]
        if fast.size:
            f0, f1 = i0[fast], i1[fast]
            tags[f0] = 2 * k[fast] + 1
            n_inside = f1 - f0 - 1
            inside = np.repeat(f0 + 1, n_inside) + _ranges(n_inside)
            tags[inside] = np.repeat(2 * k[fast] + 2, n_inside)
            counts["tagged"] += np.bincount(parent[fast], minlength=n)
            off = (bt.starts[f0] != a[fast]) | (bt.ends[f1 - 1] != b[fast])
            counts["misaligned"] += np.bincount(parent[fast][off], minlength=n)
        # Overlapping spans: the per-item core resolves them in order (rare in real data).
        if slow_rows.size:
            tok_lo = np.searchsorted(bt.row, slow_rows, side="left").tolist()
            tok_hi = np.searchsorted(bt.row, slow_rows, side="right").tolist()
            span_lo = np.searchsorted(parent, slow_rows, side="left").tolist()  # parent is sorted
            span_hi = np.searchsorted(parent, slow_rows, side="right").tolist()
            starts_l, ends_l = bt.starts.tolist(), bt.ends.tolist()
            s_l, e_l, k_l, empty_l = s.tolist(), e.tolist(), k.tolist(), empty.tolist()
        for j, r in enumerate(slow_rows.tolist()):
            lo, hi = tok_lo[j], tok_hi[j]
            base = int(bt.text_starts[r])
            toks = [(starts_l[i] - base, ends_l[i] - base) for i in range(lo, hi)]
            mine = [
                (s_l[i], e_l[i], k_l[i]) for i in range(span_lo[j], span_hi[j]) if not empty_l[i]
            ]
            row_tags, c = bio_tags(toks, mine)
            tags[lo:hi] = row_tags
            counts["tagged"][r] += c.tagged
            counts["misaligned"][r] += c.misaligned
            counts["overlapping"][r] += c.overlapping
            counts["empty"][r] += c.empty  # always 0 here: empty spans were removed above
    return pa.array(tags, pa.int64()), counts


def _ranges(lengths: np.ndarray) -> np.ndarray:
    """Concatenated `arange(n)` for every n in `lengths` (vectorised)."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(lengths)
    out = np.ones(total, dtype=np.int64)
    out[0] = 0
    nz = lengths[lengths > 0]
    starts = (ends - lengths)[lengths > 0]
    out[starts[1:]] = 1 - nz[:-1]
    return np.cumsum(out)


TOKEN_COLUMNS = ("tokens", "token_starts", "token_ends", "ner_tags", "trigger_tags")
# (`id` and these are the release columns; the count columns stay out of the release.)


@dataclass(frozen=True)
class TokenTagger:
    """Batch function: sentences (`id`, `text`, `entities`, `triggers`) -> token rows.

    Output columns: `id`, `tokens`, `token_starts`, `token_ends`, `ner_tags` (BIO over
    `entity_types`), `trigger_tags` (BIO over `event_types`); tag ids follow `bio_names`.
    `entities` items need `start`, `end`, `label`; `triggers` items `start`, `end`, `event_type`.
    What happened to each row's spans is in count columns (`entities_spans`,
    `entities_misaligned`, ..., `triggers_empty`: see `AlignmentCounts`), so nothing is kept on
    the tagger and batches can run anywhere; `alignment_counts` sums them, `TOKEN_COLUMNS`
    selects the release's columns.
    """

    entity_types: Sequence[str]
    event_types: Sequence[str]

    def __call__(self, batch: pa.Table | pa.RecordBatch) -> pa.Table:
        texts = batch.column("text").to_pylist()
        ids = batch.column("id")
        bt = _batch_tokens(texts)
        offsets = np.searchsorted(bt.row, np.arange(len(texts) + 1)).astype(np.int32)
        offsets_arr = pa.array(offsets, pa.int32())

        def lists(values: pa.Array) -> pa.ListArray:
            return pa.ListArray.from_arrays(offsets_arr, values)

        ner, ce = _batch_bio(
            bt, _combine(batch.column("entities")), "label", self.entity_types, "entity", ids
        )
        trig, ct = _batch_bio(
            bt, _combine(batch.column("triggers")), "event_type", self.event_types, "trigger", ids
        )
        local_start = bt.starts - bt.text_starts[bt.row]
        local_end = bt.ends - bt.text_starts[bt.row]
        columns = {
            "id": ids,
            "tokens": lists(bt.strings),
            "token_starts": lists(pa.array(local_start.astype(np.int32))),
            "token_ends": lists(pa.array(local_end.astype(np.int32))),
            "ner_tags": lists(ner),
            "trigger_tags": lists(trig),
        }
        for kind, counts in (("entities", ce), ("triggers", ct)):
            for f in COUNT_FIELDS:
                columns[f"{kind}_{f}"] = pa.array(counts[f], pa.int32())
        return pa.table(columns)


def alignment_counts(tokens: pa.Table) -> dict[str, dict[str, int]]:
    """The count columns of `TokenTagger` output summed: {"entities": {...}, "triggers": {...}}."""
    return {
        kind: {f: int(pc.sum(tokens.column(f"{kind}_{f}")).as_py() or 0) for f in COUNT_FIELDS}
        for kind in ("entities", "triggers")
    }


def add_alignment(total: dict[str, dict[str, int]], more: dict[str, dict[str, int]]) -> None:
    for kind, counts in more.items():
        slot = total.setdefault(kind, dict.fromkeys(COUNT_FIELDS, 0))
        for f, v in counts.items():
            slot[f] += v


def _combine(col: pa.Array | pa.ChunkedArray) -> pa.Array:
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col


def tokenize_batch(texts: pa.Array | pa.ChunkedArray | list[str]) -> pa.Table:
    """Tokens of many texts: columns `tokens`, `token_starts`, `token_ends` (one row per text)."""
    if not isinstance(texts, list):
        texts = texts.to_pylist()
    bt = _batch_tokens(texts)
    offsets = pa.array(np.searchsorted(bt.row, np.arange(len(texts) + 1)).astype(np.int32))
    local_start = (bt.starts - bt.text_starts[bt.row]).astype(np.int32)
    local_end = (bt.ends - bt.text_starts[bt.row]).astype(np.int32)
    return pa.table(
        {
            "tokens": pa.ListArray.from_arrays(offsets, bt.strings),
            "token_starts": pa.ListArray.from_arrays(offsets, pa.array(local_start)),
            "token_ends": pa.ListArray.from_arrays(offsets, pa.array(local_end)),
        }
    )
