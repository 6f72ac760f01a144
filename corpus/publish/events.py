"""The `events` config: one row per sentence in the shape event-extraction trainers read
(TextEE, OneIE, X-Gear): `tokens`, `text`, `entity_mentions` and `event_mentions` with
token offsets, plus the code-point offsets the other configs use.

Conventions (the card repeats them):

- `tokens` are exactly the `tokens` config's tokens of the sentence.
- Token offsets `start`/`end` are end-exclusive token indices: a span covers every token it
  overlaps, so `tokens[start:end]` holds it (a clitic-attached span such as `الجيش` in
  `والجيش` covers its whole token). A span on no token (only whitespace) has `start == end`.
- `char_start`/`char_end` are end-exclusive code points into `text`:
  `text[char_start:char_end] == text` of the mention, as in the `sentences` config.
- Arguments point to an entity mention of the same sentence by `entity_id`.

`build_event_rows` is vectorised (no Python loop over sentences), so a million sentences cost
seconds; `to_textee` turns one row into TextEE's JSON-lines dictionary.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Token and character positions share one 64-bit key: sentence row * _ROW + offset.
_ROW = np.int64(1 << 32)


def events_features() -> Any:
    """`datasets.Features` of the events config (types and roles are the ontology's strings)."""
    from datasets import Features, List, Value

    string, i32 = Value("string"), Value("int32")
    span = {"start": i32, "end": i32, "char_start": i32, "char_end": i32}
    return Features(
        {
            "id": string,
            "doc_id": string,
            "text": string,
            "tokens": List(string),
            "entity_mentions": List({"id": string, "entity_type": string, "text": string, **span}),
            "event_mentions": List(
                {
                    "id": string,
                    "event_type": string,
                    "trigger": {"text": string, **span},
                    "arguments": List({"entity_id": string, "role": string, "text": string}),
                }
            ),
        }
    )


def _ints(a: pa.Array) -> np.ndarray:
    return np.asarray(a.to_numpy(zero_copy_only=False), dtype=np.int64)


def _list_offsets(col: pa.Array) -> np.ndarray:
    lengths = _ints(pc.list_value_length(col).fill_null(0))
    out = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=out[1:])
    return out


class _TokenIndex:
    """Maps character spans of sentence rows to end-exclusive token ranges of the same rows."""

    def __init__(self, token_starts: pa.Array, token_ends: pa.Array) -> None:
        self.first = _list_offsets(token_starts)  # first token of each row, flat numbering
        row = _ints(pc.list_parent_indices(token_starts))
        # Sorted: rows ascend and, within a row, token offsets ascend.
        self.start_keys = row * _ROW + _ints(pc.list_flatten(token_starts))
        self.end_keys = row * _ROW + _ints(pc.list_flatten(token_ends))

    def __call__(
        self, row: np.ndarray, char_start: np.ndarray, char_end: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        base = self.first[row]
        # First token ending after the span start; first token starting at or after its end.
        lo = np.searchsorted(self.end_keys, row * _ROW + char_start, side="right") - base
        hi = np.searchsorted(self.start_keys, row * _ROW + char_end, side="left") - base
        return lo, np.maximum(hi, lo)


def _i32(x: np.ndarray) -> pa.Array:
    return pa.array(x.astype(np.int32), pa.int32())


def build_event_rows(sentences: pa.Table, tokens: pa.Table) -> pa.Table:
    """Rows of the events config from rows of the sentences config and the matching rows
    (same order) of the tokens config."""
    index = _TokenIndex(
        tokens["token_starts"].combine_chunks(), tokens["token_ends"].combine_chunks()
    )

    ents_col = sentences["entities"].combine_chunks()
    ents = pc.list_flatten(ents_col)
    e_row = _ints(pc.list_parent_indices(ents_col))
    e_cs, e_ce = (_ints(pc.struct_field(ents, f)) for f in ("start", "end"))
    e_ts, e_te = index(e_row, e_cs, e_ce)
    entity_mentions = pa.StructArray.from_arrays(
        [
            pc.struct_field(ents, "id"),
            pc.struct_field(ents, "label"),
            pc.struct_field(ents, "text"),
            _i32(e_ts),
            _i32(e_te),
            _i32(e_cs),
            _i32(e_ce),
        ],
        names=["id", "entity_type", "text", "start", "end", "char_start", "char_end"],
    )

    evs_col = sentences["events"].combine_chunks()
    evs = pc.list_flatten(evs_col)
    v_row = _ints(pc.list_parent_indices(evs_col))
    trig = pc.struct_field(evs, "trigger")
    t_cs, t_ce = (_ints(pc.struct_field(trig, f)) for f in ("start", "end"))
    t_ts, t_te = index(v_row, t_cs, t_ce)
    args_col = pc.struct_field(evs, "arguments")
    args = pc.list_flatten(args_col)
    arguments = pa.StructArray.from_arrays(
        [pc.struct_field(args, f) for f in ("entity_id", "role", "text")],
        names=["entity_id", "role", "text"],
    )
    event_mentions = pa.StructArray.from_arrays(
        [
            pc.struct_field(evs, "id"),
            pc.struct_field(evs, "event_type"),
            pa.StructArray.from_arrays(
                [pc.struct_field(trig, "text"), _i32(t_ts), _i32(t_te), _i32(t_cs), _i32(t_ce)],
                names=["text", "start", "end", "char_start", "char_end"],
            ),
            pa.ListArray.from_arrays(_i32(_list_offsets(args_col)), arguments),
        ],
        names=["id", "event_type", "trigger", "arguments"],
    )
    return pa.table(
        {
            "id": sentences["id"],
            "doc_id": sentences["article_id"],
            "text": sentences["text"],
            "tokens": tokens["tokens"],
            "entity_mentions": pa.ListArray.from_arrays(
                _i32(_list_offsets(ents_col)), entity_mentions
            ),
            "event_mentions": pa.ListArray.from_arrays(
                _i32(_list_offsets(evs_col)), event_mentions
            ),
        }
    )


def to_textee(row: dict[str, Any]) -> dict[str, Any]:
    """One events-config row as a TextEE/OneIE JSON-lines record (`doc_id`, `wnd_id`,
    `tokens`, `text`, `entity_mentions`, `event_mentions` with token offsets; the code-point
    offsets are kept as `char_start`/`char_end`)."""
    return {
        "doc_id": row["doc_id"],
        "wnd_id": row["id"],
        "lang": "ar",
        "text": row["text"],
        "tokens": list(row["tokens"]),
        "entity_mentions": [dict(m) for m in row["entity_mentions"]],
        "event_mentions": [
            {
                "id": ev["id"],
                "event_type": ev["event_type"],
                "trigger": dict(ev["trigger"]),
                "arguments": [dict(a) for a in ev["arguments"]],
            }
            for ev in row["event_mentions"]
        ],
    }
