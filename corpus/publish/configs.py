"""The configs of a release: their features (schemas) and the vectorised builders of nested
events and of document rows from sentence rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpus.errors import ReleaseError
from corpus.publish.events import events_features
from corpus.publish.tokens import bio_names

CONFIGS = ("sentences", "tokens", "events", "documents")


def release_features(entity_types: list[str], event_types: list[str]) -> dict[str, Any]:
    """`datasets.Features` of each config; tag names come from the ontology, in its order."""
    from datasets import ClassLabel, Features, List, Value

    string, i32, i64 = Value("string"), Value("int32"), Value("int64")
    entity = {"id": string, "start": i32, "end": i32, "label": string, "text": string}
    argument = {
        "role": string,
        "entity_id": string,
        "start": i32,
        "end": i32,
        "label": string,
        "text": string,
    }
    event = {
        "id": string,
        "event_type": string,
        "trigger": {"start": i32, "end": i32, "text": string},
        "arguments": List(argument),
    }
    return {
        "sentences": Features(
            {
                "id": string,
                "article_id": string,
                "group": string,
                "index": i32,
                "start": i32,
                "end": i32,
                "text": string,
                "choice": string,
                "entities": List(entity),
                "events": List(event),
                "provenance": {
                    "annotator": string,
                    "annotators": i32,
                    "annotation_id": i64,
                    "task_id": i64,
                    "project_id": i64,
                    "prelabel": string,
                },
            }
        ),
        "tokens": Features(
            {
                "id": string,
                "text": string,
                "tokens": List(string),
                "token_starts": List(i32),
                "token_ends": List(i32),
                "ner_tags": List(ClassLabel(names=bio_names(entity_types))),
                "trigger_tags": List(ClassLabel(names=bio_names(event_types))),
            }
        ),
        "events": events_features(),
        "documents": Features(
            {
                "id": string,
                "group": string,
                "title": string,
                "url": string,
                "published_at": string,
                "text": string,
                "sentences": List(
                    {"id": string, "index": i32, "start": i32, "end": i32, "choice": string}
                ),
                "entities": List({"sentence_id": string, **entity}),
                "events": List({"sentence_id": string, **event}),
            }
        ),
    }


def _offsets(col: pa.Array) -> np.ndarray:
    """List offsets (n + 1,) of a list column, valid for slices too."""
    lengths = pc.list_value_length(col).fill_null(0).to_numpy().astype(np.int64)
    out = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=out[1:])
    return out


def _region_index(
    parent_a: np.ndarray, ids_a: pa.Array, parent_b: np.ndarray, ids_b: pa.Array
) -> pa.Array:
    """For each (row, region id) in a, the position of the same pair in b (null if none).

    Region ids are only unique within one annotation, so the key is the pair; ids become
    integer codes first, which hashes much faster than strings.
    """
    vocab = pc.unique(ids_b)
    code_a = pc.fill_null(pc.index_in(ids_a, value_set=vocab), -1).to_numpy().astype(np.int64)
    code_b = pc.index_in(ids_b, value_set=vocab).to_numpy().astype(np.int64)
    width = max(len(vocab), 1)
    key_a = parent_a.astype(np.int64) * width + code_a
    key_b = parent_b.astype(np.int64) * width + code_b
    found = pc.index_in(pa.array(key_a), value_set=pa.array(key_b))
    if (code_a < 0).any():  # an id that no region of b has at all
        found = pc.if_else(pa.array(code_a < 0), pa.nulls(len(found), pa.int32()), found)
    return found


def _list(offsets: np.ndarray, values: pa.Array) -> pa.Array:
    return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), values)


def build_events(rows: pa.Table, sentence_ids: pa.Array) -> pa.Array:
    """Events (trigger, type, arguments with their entity spans) per row, from the flat
    `triggers`, `entities` and `arguments` columns of adjudicated annotations (vectorised)."""
    ents_col, trig_col, args_col = (
        rows[c].combine_chunks() for c in ("entities", "triggers", "arguments")
    )
    ents, trigs, args = (pc.list_flatten(c) for c in (ents_col, trig_col, args_col))
    ep, tp, ap = (pc.list_parent_indices(c).to_numpy() for c in (ents_col, trig_col, args_col))
    a_ent = _region_index(ap, pc.struct_field(args, "entity_id"), ep, pc.struct_field(ents, "id"))
    a_trig = _region_index(
        ap, pc.struct_field(args, "trigger_id"), tp, pc.struct_field(trigs, "id")
    )
    dangling = pc.or_(a_ent.is_null(), a_trig.is_null())
    if pc.any(dangling).as_py():
        first = int(np.flatnonzero(dangling.to_numpy(zero_copy_only=False))[0])
        raise ReleaseError(
            f"Sentence {sentence_ids[int(ap[first])]}: an argument points to a region that is not "
            "an entity/trigger of the same annotation.",
            "Re-pull the annotations (`corpus pull --full`); pull validates relations.",
        )
    a_trig_np = a_trig.to_numpy().astype(np.int64)
    order = np.argsort(a_trig_np, kind="stable")  # arguments grouped by trigger, input order
    a_ent_sorted = pc.take(a_ent, pa.array(order))
    arguments = pa.StructArray.from_arrays(
        [
            pc.take(pc.struct_field(args, "role"), pa.array(order)),
            pc.take(pc.struct_field(args, "entity_id"), pa.array(order)),
            *(
                pc.take(pc.struct_field(ents, f), a_ent_sorted)
                for f in ("start", "end", "label", "text")
            ),
        ],
        names=["role", "entity_id", "start", "end", "label", "text"],
    )
    per_trigger = np.bincount(a_trig_np, minlength=len(trigs))
    arg_offsets = np.zeros(len(trigs) + 1, dtype=np.int64)
    np.cumsum(per_trigger, out=arg_offsets[1:])
    trigger = pa.StructArray.from_arrays(
        [pc.struct_field(trigs, f) for f in ("start", "end", "text")],
        names=["start", "end", "text"],
    )
    events = pa.StructArray.from_arrays(
        [
            pc.struct_field(trigs, "id"),
            pc.struct_field(trigs, "event_type"),
            trigger,
            _list(arg_offsets, arguments),
        ],
        names=["id", "event_type", "trigger", "arguments"],
    )
    return _list(_offsets(trig_col), events)


def _shift(values: pa.Array, by: np.ndarray) -> pa.Array:
    return pa.array(values.to_numpy(zero_copy_only=False).astype(np.int64) + by, pa.int32())


def build_documents(sentences: pa.Table, articles: pa.Table) -> pa.Table:
    """One row per article of `sentences` (sorted by article, index); offsets into the article."""
    n = sentences.num_rows
    art = sentences["article_id"].combine_chunks()
    if n == 0:
        first = np.zeros(0, dtype=np.int64)
    else:
        change = pc.not_equal(art.slice(1), art.slice(0, n - 1)).to_numpy(zero_copy_only=False)
        first = np.concatenate(([0], np.flatnonzero(change) + 1))
    doc_bounds = np.concatenate((first, [n])).astype(np.int64)
    sent_start = sentences["start"].combine_chunks().to_numpy().astype(np.int64)
    sid = sentences["id"].combine_chunks()

    sent_struct = pa.StructArray.from_arrays(
        [sid, *(sentences[c].combine_chunks() for c in ("index", "start", "end", "choice"))],
        names=["id", "index", "start", "end", "choice"],
    )

    ents_col = sentences["entities"].combine_chunks()
    ents = pc.list_flatten(ents_col)
    ep = pc.list_parent_indices(ents_col).to_numpy()
    doc_ents = pa.StructArray.from_arrays(
        [
            pc.take(sid, pa.array(ep)),
            pc.struct_field(ents, "id"),
            _shift(pc.struct_field(ents, "start"), sent_start[ep]),
            _shift(pc.struct_field(ents, "end"), sent_start[ep]),
            pc.struct_field(ents, "label"),
            pc.struct_field(ents, "text"),
        ],
        names=["sentence_id", "id", "start", "end", "label", "text"],
    )

    ev_col = sentences["events"].combine_chunks()
    evs = pc.list_flatten(ev_col)
    vp = pc.list_parent_indices(ev_col).to_numpy()
    trig = pc.struct_field(evs, "trigger")
    args_col = pc.struct_field(evs, "arguments")
    args = pc.list_flatten(args_col)
    arg_sentence = vp[pc.list_parent_indices(args_col).to_numpy()]
    doc_args = pa.StructArray.from_arrays(
        [
            pc.struct_field(args, "role"),
            pc.struct_field(args, "entity_id"),
            _shift(pc.struct_field(args, "start"), sent_start[arg_sentence]),
            _shift(pc.struct_field(args, "end"), sent_start[arg_sentence]),
            pc.struct_field(args, "label"),
            pc.struct_field(args, "text"),
        ],
        names=["role", "entity_id", "start", "end", "label", "text"],
    )
    doc_events = pa.StructArray.from_arrays(
        [
            pc.take(sid, pa.array(vp)),
            pc.struct_field(evs, "id"),
            pc.struct_field(evs, "event_type"),
            pa.StructArray.from_arrays(
                [
                    _shift(pc.struct_field(trig, "start"), sent_start[vp]),
                    _shift(pc.struct_field(trig, "end"), sent_start[vp]),
                    pc.struct_field(trig, "text"),
                ],
                names=["start", "end", "text"],
            ),
            _list(_offsets(args_col), doc_args),
        ],
        names=["sentence_id", "id", "event_type", "trigger", "arguments"],
    )

    doc_ids = pc.take(art, pa.array(doc_bounds[:-1]))
    meta, _ = _take_by_key(doc_ids, articles, "article_id")
    return pa.table(
        {
            "id": doc_ids,
            "group": meta["dup_group"],
            "title": meta["title"],
            "url": meta["url"],
            "published_at": meta["published_at"],
            "text": meta["text"],
            "sentences": _list(doc_bounds, sent_struct),
            "entities": _list(_offsets(ents_col)[doc_bounds], doc_ents),
            "events": _list(_offsets(ev_col)[doc_bounds], doc_events),
        }
    )


def spans_for_tagging(batch: pa.Table) -> pa.Table:
    """The columns `TokenTagger` reads, from rows of the sentences config."""
    return pa.table(
        {
            "id": batch["id"],
            "text": batch["text"],
            "entities": batch["entities"],
            "triggers": _triggers_of(batch["events"].combine_chunks()),
        }
    )


def _triggers_of(events: pa.Array) -> pa.Array:
    """The trigger spans of an `events` list column, shaped like the annotations' `triggers`."""
    evs = pc.list_flatten(events)
    trig = pc.struct_field(evs, "trigger")
    flat = pa.StructArray.from_arrays(
        [
            pc.struct_field(trig, "start"),
            pc.struct_field(trig, "end"),
            pc.struct_field(evs, "event_type"),
        ],
        names=["start", "end", "event_type"],
    )
    return _list(_offsets(events), flat)


def _take_by_key(keys: pa.Array, table: pa.Table, key: str) -> tuple[pa.Table, pa.Array]:
    """Rows of `table` matching `keys` (in the order of `keys`) and the null mask of misses."""
    idx = pc.index_in(keys, value_set=table[key])
    return table.take(idx), idx.is_null()
