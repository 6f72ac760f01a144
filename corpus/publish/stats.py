"""Figures for the card and manifest: label counts, pre-labelers, agreement, Label Studio ids."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from corpus.io import read_table
from corpus.workspace import Workspace

# Agreement is measured on at most this many multiply-annotated sentences (plenty for 2 decimals).
AGREEMENT_SAMPLE = 3000


def _value_counts(values: pa.Array) -> dict[str, int]:
    if len(values) == 0:
        return {}
    vc = pc.value_counts(values)
    return dict(
        sorted(
            zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist(), strict=True),
            key=lambda kv: (str(kv[0]),),
        )
    )


def label_counts(sentences: pa.Table) -> dict[str, dict[str, int]]:
    """Counts of entity labels, event types, argument roles and sentence choices in a table."""
    ents = pc.list_flatten(sentences["entities"].combine_chunks())
    evs = pc.list_flatten(sentences["events"].combine_chunks())
    args = pc.list_flatten(pc.struct_field(evs, "arguments")) if len(evs) else pa.array([])
    return {
        "entities": _value_counts(pc.struct_field(ents, "label")) if len(ents) else {},
        "events": _value_counts(pc.struct_field(evs, "event_type")) if len(evs) else {},
        "roles": _value_counts(pc.struct_field(args, "role")) if len(args) else {},
        "choices": _value_counts(sentences["choice"].combine_chunks().fill_null("(none)")),
    }


def prelabelers(ws: Workspace) -> list[dict[str, Any]]:
    if not ws.predictions_path.exists():
        return []
    t = read_table(ws.predictions_path, columns=["source", "model_version"])
    g = t.group_by(["source", "model_version"]).aggregate([("source", "count")])
    rows = sorted(g.to_pylist(), key=lambda r: (r["source"], r["model_version"]))
    return [
        {"name": r["source"], "version": r["model_version"], "sentences": r["source_count"]}
        for r in rows
    ]


def agreement(multi: pa.Table, shared: int) -> dict[str, Any]:
    """Headline agreement figures (corpus.pull.agreement) over the multiply-annotated sentences, or
    a fixed sample of them (the first `AGREEMENT_SAMPLE` by id; ids are content hashes)."""
    if shared == 0:
        return {"sentences_multiply_annotated": 0}
    from corpus.pull.agreement import agreement_report

    ids = pc.unique(multi["sentence_id"])
    sample = multi
    if len(ids) > AGREEMENT_SAMPLE:
        keep = pc.take(ids, pc.sort_indices(ids)).slice(0, AGREEMENT_SAMPLE)
        sample = multi.filter(pc.is_in(multi["sentence_id"], value_set=keep))
    rep = agreement_report(sample)
    return {
        "sentences_multiply_annotated": shared,
        "sentences_measured": rep["sentences_multiply_annotated"],
        "span_f1": rep["span_f1"]["overall"],
        "choice": rep["choice"],
        "trigger_type": rep["trigger_type"],
    }


def label_studio(ws: Workspace) -> dict[str, Any]:
    project = ws.read_state("project")
    pulls = ws.read_state("pull").get("projects", {})
    snapshots = [
        {
            "project_id": int(pid),
            "snapshot_id": p.get("snapshot_id"),
            "review": bool(p.get("review")),
        }
        for pid, p in sorted(pulls.items(), key=lambda kv: str(kv[0]))
    ]
    return {"project_id": project.get("project_id"), "snapshots": snapshots}


def size_category(n: int) -> str:
    """The Hugging Face `size_categories` bucket of `n` rows."""
    for limit, name in (
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
        (10_000_000, "1M<n<10M"),
        (100_000_000, "10M<n<100M"),
    ):
        if n < limit:
            return name
    return "100M<n<1B"


def add_counts(into: dict[str, dict[str, int]], more: dict[str, dict[str, int]]) -> None:
    for kind, labels in more.items():
        for label, n in labels.items():
            into[kind][label] = into[kind].get(label, 0) + n
        into[kind] = dict(sorted(into[kind].items()))
