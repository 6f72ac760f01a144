"""The prelabel stage's driver: data/sentences.parquet -> data/predictions.parquet on the runner.

The pre-labeler is resolved here once (a missing optional source falls back to the lexicon with
a warning the caller shows); workers then build it from its resolved spec. Invalid spans and
sentences the pre-labeler failed on come back as columns and go to
data/quarantine/prelabel.parquet.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from corpus.errors import CorpusError
from corpus.fs import file_version
from corpus.io import ParquetSink, parquet_file, require
from corpus.ontology import load_ontology
from corpus.prelabel import PrelabelStage, get_prelabeler
from corpus.quarantine import Quarantine
from corpus.runner import Engine, Stage, map_parquet
from corpus.schemas import PREDICTIONS
from corpus.types import QuarantinedRow
from corpus.workspace import Workspace

BATCH_SENTENCES = 4096  # ~0.5 MB of text per batch: memory stays flat however big the corpus


@dataclass
class PrelabelReport:
    name: str
    version: str
    sentences: int = 0
    entities: int = 0
    triggers: int = 0
    relations: int = 0  # argument pre-labels
    arguments: str = ""  # the argument predictor's name and version, if any
    rejected_spans: int = 0
    failed: int = 0  # sentences the pre-labeler could not handle (quarantined, not written)
    up_to_date: bool = False
    warnings: list[str] = field(default_factory=list)


def open_prelabeler(ws: Workspace | None, spec: str | None, model_fallback: str | None = None):
    """The pre-labeler for `spec`, the spec workers rebuild it from (the fallback's when one
    was taken), and the warnings of that fallback."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # fallback=False: an unavailable source is an error unless --fallback names another.
        prelabeler = get_prelabeler(spec, ws, fallback=False, model_fallback=model_fallback)
    notes = [str(w.message) for w in caught]
    if spec is None:
        spec = (ws.section("prelabel").get("prelabeler") if ws else None) or "lexicon"
    if notes and model_fallback:  # the fallback was taken
        spec = model_fallback
    return prelabeler, spec, notes


def _fingerprint(ws: Workspace, prelabeler, ontology, argumenter=None) -> dict:
    return {
        "sentences": file_version(ws.sentences_path),
        "source": prelabeler.name,
        "model_version": prelabeler.version,
        "ontology_hash": ontology.hash,
        "arguments": argumenter.version if argumenter is not None else None,
    }


def prelabel_file(
    source: str | Path,
    dest: str | Path,
    stage: Stage,
    quarantine: Quarantine,
    report: PrelabelReport,
    *,
    engine: Engine | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> PrelabelReport:
    """Run `stage` (a PrelabelStage) over the sentences of `source` into `dest` (paths or URIs)."""
    source_name = f"prelabel:{report.name}"
    with ParquetSink(dest, PREDICTIONS) as sink:
        for out in map_parquet(
            stage,
            source,
            columns=["sentence_id", "article_id", "text"],
            batch_rows=BATCH_SENTENCES,
            engine=engine,
        ):
            report.sentences += out.num_rows
            failed = out.column("reject_reason")
            if failed.null_count < len(failed):
                for r in out.filter(pc.is_valid(failed)).to_pylist():
                    quarantine.add(
                        QuarantinedRow(
                            source_name, f"sentence {r['sentence_id']}", r["reject_reason"], ""
                        )
                    )
                    report.failed += 1
                out = out.filter(pc.is_null(failed))
            rejected = pc.list_value_length(out.column("rejected"))
            if pc.max(rejected).as_py():
                for r in (
                    out.filter(pc.greater(rejected, 0))
                    .select(["sentence_id", "rejected"])
                    .to_pylist()
                ):
                    for bad in r["rejected"]:
                        quarantine.add(
                            QuarantinedRow(
                                source_name,
                                f"sentence {r['sentence_id']}",
                                bad["reason"],
                                bad["raw"],
                            )
                        )
                        report.rejected_spans += 1
            sink.write(out.select(PREDICTIONS.names))  # the reject columns stay behind
            if "relations" in out.column_names:
                report.relations += int(
                    pc.sum(pc.list_value_length(out.column("relations"))).as_py() or 0
                )
            kinds = pc.list_flatten(out.column("spans")).combine_chunks().field("kind")
            report.entities += _count(kinds, "entity")
            report.triggers += _count(kinds, "trigger")
            if on_progress:
                on_progress(report.sentences)
    return report


def prelabel_workspace(
    ws: Workspace,
    spec: str | None = None,
    *,
    model_fallback: str | None = None,
    arguments: str | None = None,
    force: bool = False,
    engine: Engine | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> PrelabelReport:
    """`corpus prelabel`: the workspace's sentences into its predictions file (skipped when the
    sentences, pre-labeler and ontology are unchanged, unless `force`)."""
    source = require(ws.sentences_path, "corpus segment")
    ontology = load_ontology(ws.ontology_path)
    prelabeler, worker_spec, notes = open_prelabeler(ws, spec, model_fallback)
    from corpus.prelabel.arguments import get_argumenter

    argumenter = get_argumenter(arguments, ws, ontology)  # may train: once, here
    report = PrelabelReport(prelabeler.name, prelabeler.version, warnings=notes)
    if argumenter is not None:
        report.arguments = f"{argumenter.name} {argumenter.version}"
    fingerprint = _fingerprint(ws, prelabeler, ontology, argumenter)
    if not force and ws.predictions_path.exists() and ws.read_state("prelabel") == fingerprint:
        report.up_to_date = True
        return report
    try:
        parquet_file(source)  # readable Parquet, before any worker starts
    except (pa.ArrowException, OSError) as e:
        raise CorpusError(
            f"{source} is not a readable Parquet file ({e}).",
            "Re-create it with `corpus segment`.",
        ) from e
    stage = Stage(
        PrelabelStage,
        {
            "spec": worker_spec,
            "ontology_path": str(ws.ontology_path),
            "workspace_root": str(ws.root),
            "expected_version": prelabeler.version,
            "arguments": argumenter,
        },
    )
    quarantine = Quarantine(ws.quarantine_dir, "prelabel")
    try:
        prelabel_file(
            source, ws.predictions_path, stage, quarantine, report,
            engine=engine, on_progress=on_progress,
        )  # fmt: skip
    finally:
        quarantine.flush()
    ws.write_state("prelabel", fingerprint)
    return report


def _count(values: pa.Array, value: str) -> int:
    if not len(values):
        return 0
    return pc.sum(pc.equal(values, value)).as_py() or 0
