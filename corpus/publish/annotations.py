"""Publish step 1: read the pulled annotations and adjudicate them to one per sentence."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpus.errors import ReleaseError
from corpus.io import parquet_file, read_table
from corpus.schemas import ANNOTATIONS

_ANNOTATION_COLUMNS = [
    "annotation_id",
    "task_id",
    "project_id",
    "sentence_id",
    "article_id",
    "annotator",
    "created_at",
    "updated_at",
    "lead_time",
    "cancelled",
    "prediction_id",
    "prediction_model_version",
    "sentence_text",
    "entities",
    "triggers",
    "arguments",
    "choice",
]


def read_annotations(path: Path) -> pa.Table:
    """ANNOTATIONS rows without the bulky `raw_result` JSON (left empty: publish never needs it)."""
    return _with_empty_raw(read_table(path, columns=_ANNOTATION_COLUMNS))


def _with_empty_raw(t: pa.Table) -> pa.Table:
    t = t.append_column("raw_result", pa.repeat(pa.scalar("", pa.string()), t.num_rows))
    return t.cast(ANNOTATIONS)


@dataclass
class Adjudicated:
    """The adjudicated annotations and what the card says about them."""

    chosen: pa.Table  # one non-cancelled ANNOTATIONS row per sentence (raw_result empty)
    multi: pa.Table  # the live rows of sentences with two or more annotations (for agreement)
    annotators_per_sentence: pa.Table  # sentence_id, annotators (where more than one row)
    annotators: int  # distinct annotators of non-cancelled work
    cancelled_only: int  # sentences whose annotations were all skipped


def adjudicated(annotations: pa.Table | Path, policy: str, reviewer: str | None) -> Adjudicated:
    """One row per sentence from an ANNOTATIONS table or file.

    A sentence with a single non-cancelled annotation keeps it under every policy, so only
    sentences with two or more go through `corpus.pull.adjudication.adjudicate` (which works row by
    row in Python); the rest is filtered batch by batch while reading. This keeps a million-row
    publish fast and its memory at about the size of the result.
    """
    from corpus.pull.adjudication import adjudicate

    if isinstance(annotations, pa.Table):
        keys = annotations.select(["sentence_id", "annotator", "cancelled"])
        batches = annotations.select(_ANNOTATION_COLUMNS).to_batches(max_chunksize=65_536)
    else:
        keys = read_table(annotations, columns=["sentence_id", "annotator", "cancelled"])
        # Batch by batch: a filtered dataset scan of nested columns is slower and peaks higher.
        batches = parquet_file(annotations).iter_batches(65_536, columns=_ANNOTATION_COLUMNS)
    live = keys.filter(pc.invert(keys["cancelled"]))
    per = pc.value_counts(live["sentence_id"])
    multi_ids = per.field("values").filter(pc.greater(per.field("counts"), 1))
    live_multi = live.filter(pc.is_in(live["sentence_id"], value_set=multi_ids))
    distinct = live_multi.group_by("sentence_id").aggregate([("annotator", "count_distinct")])
    annotators = len(pc.unique(live["annotator"]))
    cancelled_only = _count_cancelled_only(keys, per.field("values"))
    del keys, live, live_multi

    singles, multis = [], []
    for batch in batches:
        b = pa.Table.from_batches([batch])
        not_cancelled = pc.invert(b["cancelled"])
        in_multi = pc.is_in(b["sentence_id"], value_set=multi_ids)
        singles.append(b.filter(pc.and_(not_cancelled, pc.invert(in_multi))))
        multis.append(b.filter(pc.and_(not_cancelled, in_multi)))
    columns = pa.schema([f for f in ANNOTATIONS if f.name != "raw_result"])
    chosen = _with_empty_raw(pa.concat_tables(singles) if singles else columns.empty_table())
    multi = _with_empty_raw(pa.concat_tables(multis) if multis else columns.empty_table())
    if multi.num_rows:
        decided = adjudicate(multi, policy=policy, reviewer=reviewer or None)
        chosen = pa.concat_tables([chosen, decided.cast(chosen.schema)])
    return Adjudicated(
        chosen=chosen,
        multi=multi,
        annotators_per_sentence=distinct.rename_columns(["sentence_id", "annotators"]),
        annotators=annotators,
        cancelled_only=cancelled_only,
    )


def _count_cancelled_only(keys: pa.Table, live_ids: pa.Array) -> int:
    skipped = pc.unique(keys["sentence_id"].filter(keys["cancelled"]))
    return int(pc.sum(pc.invert(pc.is_in(skipped, value_set=live_ids))).as_py() or 0)


def check_labels(rows: pa.Table, ontology: Any) -> None:
    """Every label, event type and role must be in the ontology the release documents."""
    sid = rows["sentence_id"].combine_chunks()

    def check(col: str, fieldname: str, allowed: list[str], what: str) -> None:
        lists = rows[col].combine_chunks()
        values = pc.struct_field(pc.list_flatten(lists), fieldname)
        bad = pc.invert(pc.is_in(values, value_set=pa.array(allowed, pa.string())))
        if pc.any(bad).as_py():
            i = int(np.flatnonzero(bad.to_numpy(zero_copy_only=False))[0])
            parent = pc.list_parent_indices(lists)[i].as_py()
            raise ReleaseError(
                f"Sentence {sid[parent]}: {what} {values[i].as_py()!r} is not in the ontology "
                f"{ontology.name!r} (hash {ontology.hash[:12]}).",
                "The ontology changed after these annotations were made: restore it, or fix the "
                "annotations in Label Studio and pull again.",
            )

    check("entities", "label", list(ontology.entity_types), "entity label")
    check("triggers", "event_type", list(ontology.event_types), "event type")
    check("arguments", "role", list(ontology.roles), "argument role")
