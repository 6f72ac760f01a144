"""Publish checks what it reads, and verify checks the manifest itself.

`data/annotations.parquet` is written by `corpus pull`, which validates every region; but it is
a file on disk that can be edited by hand or damaged, and an incremental pull copies unchanged
rows without parsing them again. So publish validates it again, the way pull does: every span is
`text[start:end]` of its sentence, every label is in the ontology, every annotator id is a
pseudonym. A release built from a bad row would break the card's own loading assertion or leak
an email; publish refuses instead, naming the rows and what to do.

`verify` checks the files against the manifest's checksums; these checks cover the manifest's
own claims (it is the one file without a checksum): its version against the folder name, its
label counts and annotator count against the data.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from corpus.errors import ReleaseError

# What `corpus pull` writes as annotator: "ann-" + 12 hex digits of a keyed hash ("ann-unknown"
# without a user), or the adjudication's "majority".
PSEUDONYM = re.compile(r"ann-(?:[0-9a-f]{12}|unknown)|majority")
SHOWN = 5  # problems listed in a message


def is_pseudonym(annotator: Any) -> bool:
    return isinstance(annotator, str) and PSEUDONYM.fullmatch(annotator) is not None


def _span_problem(kind: str, span: dict, text: str | None) -> str | None:
    start, end, said = span.get("start"), span.get("end"), span.get("text")
    if text is None:
        return f"{kind} region {span.get('id')}: the annotation has no sentence text"
    if start is None or end is None or not 0 <= start < end <= len(text):
        return f"{kind} region {span.get('id')}: offsets [{start}:{end}] outside the sentence"
    if text[start:end] != said:
        return f"{kind} region {span.get('id')}: text[{start}:{end}] is {text[start:end]!r} but the region says {said!r}"  # noqa: E501
    return None


def annotation_problems(row: dict, vocab: Any) -> list[str]:
    """What is wrong with one ANNOTATIONS row (empty when it is valid)."""
    text = row.get("sentence_text")
    out = []
    if not is_pseudonym(row.get("annotator")):
        out.append("annotator is not a pseudonymous id (ann-...): a real identity must not be "
                   "published")  # fmt: skip
    for e in row.get("entities") or []:
        out.append(_span_problem("entity", e, text))
        if e.get("label") not in vocab.entity_types:
            out.append(f"entity label {e.get('label')!r} is not in the ontology")
    for t in row.get("triggers") or []:
        out.append(_span_problem("trigger", t, text))
        if t.get("event_type") not in vocab.event_roles:
            out.append(f"event type {t.get('event_type')!r} is not in the ontology")
    for a in row.get("arguments") or []:
        if a.get("role") not in vocab.roles:
            out.append(f"argument role {a.get('role')!r} is not in the ontology")
    if row.get("choice") is not None and row["choice"] not in vocab.choices:
        out.append(f"choice {row['choice']!r} is not in the ontology")
    return [p for p in out if p]


def check_annotations(ws: Any) -> None:
    """Refuse to publish from an annotations file with rows pull would not have written.

    Streamed batch by batch and checked column-wise (labels and annotators with Arrow compute,
    span offsets in one pass over flat lists), so a million annotations take seconds. Rows with
    a problem are then described one by one with `annotation_problems`.
    """
    import pyarrow as pa

    from corpus.io import parquet_file
    from corpus.pull.parse import workspace_vocabulary

    path = ws.annotations_path
    vocab = workspace_vocabulary(ws)
    columns = ["annotation_id", "task_id", "annotator", "sentence_text", "entities", "triggers",
               "arguments", "choice"]  # fmt: skip
    bad: list[str] = []
    rows_bad = 0
    try:
        for batch in parquet_file(path).iter_batches(batch_size=65_536, columns=columns):
            suspects = _suspect_rows(batch, vocab)
            if not suspects:
                continue
            for row in batch.take(pa.array(suspects, pa.int64())).to_pylist():
                problems = annotation_problems(row, vocab)
                if problems:
                    rows_bad += 1
                    if len(bad) < SHOWN:
                        bad.append(f"annotation {row['annotation_id']} (task {row['task_id']}): "
                                   + "; ".join(problems[:3]))  # fmt: skip
    except (pa.ArrowException, OSError, KeyError) as e:
        raise ReleaseError(
            f"{path} is not a readable annotations file ({e}).",
            "Re-create it from Label Studio with `corpus pull --full`.",
        ) from e
    if rows_bad:
        raise ReleaseError(
            f"{path} has {rows_bad} annotation(s) that pull would not have written (edited by "
            "hand or damaged); nothing was published. " + " | ".join(bad),
            "Re-create the file from Label Studio with `corpus pull --full` (it re-validates "
            "every annotation and quarantines what fails), then publish.",
        )


def _suspect_rows(batch: Any, vocab: Any) -> list[int]:
    """Indices of the rows of an ANNOTATIONS batch that may break a rule (a superset: each is
    then checked in full)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def unknown(values: Any, known: Any) -> Any:
        return pc.fill_null(
            pc.invert(pc.is_in(values, value_set=pa.array(sorted(known), pa.string()))), True
        )

    suspects: set[int] = set()
    who = batch.column("annotator")
    pseudonymous = pc.match_substring_regex(who, r"^(?:ann-(?:[0-9a-f]{12}|unknown)|majority)\z")
    suspects.update(_true_indices(pc.invert(pc.fill_null(pseudonymous, False))))
    choice = batch.column("choice")
    suspects.update(_true_indices(pc.and_(pc.is_valid(choice), unknown(choice, vocab.choices))))
    texts = batch.column("sentence_text").to_pylist()
    for col, field, known in (
        ("entities", "label", vocab.entity_types),
        ("triggers", "event_type", frozenset(vocab.event_roles)),
        ("arguments", "role", vocab.roles),
    ):
        lists = batch.column(col)
        flat = pc.list_flatten(lists)
        if not len(flat):
            continue
        parents = pc.list_parent_indices(lists).to_numpy()
        bad = unknown(pc.struct_field(flat, field), known)
        suspects.update(int(parents[i]) for i in _true_indices(bad))
        if col == "arguments":
            continue
        # text[start:end] == the span's text, in one pass over plain lists.
        starts = pc.struct_field(flat, "start").to_pylist()
        ends = pc.struct_field(flat, "end").to_pylist()
        said = pc.struct_field(flat, "text").to_pylist()
        suspects.update(
            p
            for p, a, b, t in zip(parents.tolist(), starts, ends, said, strict=True)
            if (x := texts[p]) is None
            or a is None
            or b is None
            or not 0 <= a < b <= len(x)
            or x[a:b] != t
        )
    return sorted(suspects)


def _true_indices(mask: Any) -> list[int]:
    import numpy as np

    return np.flatnonzero(mask.to_numpy(zero_copy_only=False)).tolist()


# --- verify: the manifest's own claims ------------------------------------------------------------


def manifest_problems(path: Path, manifest: dict[str, Any]) -> list[str]:
    """What the manifest claims that the folder and the data do not bear out."""
    import pyarrow.compute as pc

    from corpus.io import parquet_file
    from corpus.publish.manifest import is_version
    from corpus.publish.splits import SPLITS
    from corpus.publish.stats import add_counts, label_counts

    out = []
    version = manifest.get("version")
    if not is_version(version):
        out.append(f"manifest.json: version {version!r} is not a semantic version")
    elif is_version(Path(path).name) and Path(path).name != version:
        out.append(f"manifest.json: version {version} but the folder is {Path(path).name} "
                   "(a copy of another release?)")  # fmt: skip
    files = (manifest.get("configs") or {}).get("sentences", {}).get("files", {})
    claimed = manifest.get("label_counts") or {}
    annotators: set[str] = set()
    most = 0
    for split in SPLITS:
        counts: dict[str, dict[str, int]] = {
            k: {} for k in ("entities", "events", "roles", "choices")
        }
        rel = files.get(split)
        f = Path(path) / rel if rel else None
        if f is not None and f.is_file():
            try:
                for batch in parquet_file(f).iter_batches(
                    batch_size=8192, columns=["entities", "events", "choice", "provenance"]
                ):
                    import pyarrow as pa

                    t = pa.Table.from_batches([batch])
                    add_counts(counts, label_counts(t))
                    prov = t["provenance"].combine_chunks()
                    who = pc.struct_field(prov, "annotator")
                    annotators.update(pc.unique(who).to_pylist())
                    most = max(most, pc.max(pc.struct_field(prov, "annotators")).as_py() or 0)
            except Exception as e:  # noqa: BLE001 - unreadable files are reported elsewhere
                out.append(f"{rel}: cannot recount labels ({e})")
                continue
        want = claimed.get(split)
        if want is None and rel is None:
            continue
        got = {k: v for k, v in counts.items() if v}
        if {k: v for k, v in (want or {}).items() if v} != got:
            out.append(f"manifest.json: label counts of {split} differ from sentences/{split}")
    leaked = sorted(a for a in annotators if not is_pseudonym(a))
    if leaked:
        out.append(f"sentences: {len(leaked)} annotator id(s) are not pseudonymous "
                   "(e.g. an email or a user name)")  # fmt: skip
    n = manifest.get("annotators")
    named = len(annotators - {"majority"})
    if not isinstance(n, int) or isinstance(n, bool) or n < max(named, most):
        out.append(f"manifest.json: annotators {n!r}, but the sentences name {named} and a "
                   f"sentence has {most}")  # fmt: skip
    return out
