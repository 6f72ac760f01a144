"""`corpus prelabel` (sentences -> predictions) and `corpus ontology check|render`."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from corpus.cli.app import WorkspaceOpt, app, console, console_err, open_workspace, progress_bar
from corpus.errors import CorpusError
from corpus.lock import temp_path
from corpus.workspace import Workspace

BATCH_SENTENCES = 4096  # ~0.5 MB of text per batch: memory stays flat however big the corpus


def _open_prelabeler(ws: Workspace, spec: str | None, model_fallback: str | None = None):
    """The pre-labeler for `spec`; a fallback to the lexicon is reported, not hidden."""
    from corpus.prelabel import get_prelabeler

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # fallback=False: an unavailable source is an error unless --fallback names another.
        prelabeler = get_prelabeler(spec, ws, fallback=False, model_fallback=model_fallback)
    for w in caught:
        console_err.print(f"[yellow]warning:[/] {escape(str(w.message))}", highlight=False)
    return prelabeler


def _fingerprint(ws: Workspace, prelabeler, ontology, argumenter=None) -> dict:
    st = ws.sentences_path.stat()
    return {
        "sentences": {"bytes": st.st_size, "mtime_ns": st.st_mtime_ns},
        "source": prelabeler.name,
        "model_version": prelabeler.version,
        "ontology_hash": ontology.hash,
        "arguments": argumenter.version if argumenter is not None else None,
    }


@app.command()
def prelabel(
    prelabeler: Annotated[
        str | None,
        typer.Option(
            "--prelabeler",
            "-p",
            help='Pre-labeler: "lexicon" (offline, the default), "camel" (camel-tools '
            'morphology and NER when their data is installed), "hf:PATH" (a Hugging Face '
            'token-classification model folder) or "model:NAME" (trained with `corpus train`). '
            "Default: prelabel.prelabeler in corpus.toml.",
            show_default=False,
        ),
    ] = None,
    fallback: Annotated[
        str | None,
        typer.Option(
            "--fallback",
            help="Pre-labeler to use when the chosen one cannot run: a missing or stale "
            '"model:NAME", a missing "hf:PATH" folder, camel-tools data not installed (e.g. '
            "lexicon). Without it, that is an error.",
            show_default=False,
        ),
    ] = None,
    arguments: Annotated[
        str | None,
        typer.Option(
            "--arguments",
            help='Argument (role) pre-labels: "auto" (learned from data/annotations.parquet '
            'when it holds enough annotated arguments, else rules), "rules", "learned" or '
            '"none". Default: prelabel.arguments in corpus.toml, else "auto".',
            show_default=False,
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Pre-label again even if nothing changed.")
    ] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Pre-label sentences with entity and event-trigger spans, and argument roles between
    them: data/sentences.parquet -> data/predictions.parquet.

    Every span is checked against the workspace ontology before it is written; invalid spans go
    to data/quarantine/prelabel.parquet with the reason. Re-running with the same sentences,
    pre-labeler and ontology does nothing (use --force to redo).

    Example: corpus prelabel --prelabeler lexicon
    """
    # Imported here, not at the top: pyarrow and the ontology's YAML parser take ~0.3 s to
    # load, which `corpus --help` and every other command would pay.
    import pyarrow as pa
    import pyarrow.compute as pc

    from corpus.io import ParquetSink, count_rows, iter_batches, require
    from corpus.ontology import load_ontology
    from corpus.prelabel import prelabel_batch
    from corpus.quarantine import Quarantine
    from corpus.schemas import PREDICTIONS

    ws = open_workspace(workspace, lock="prelabel")
    source = require(ws.sentences_path, "corpus segment")
    ontology = load_ontology(ws.ontology_path)
    pl = _open_prelabeler(ws, prelabeler, fallback)
    from corpus.prelabel.arguments import get_argumenter

    argumenter = get_argumenter(arguments, ws, ontology)
    fingerprint = _fingerprint(ws, pl, ontology, argumenter)
    out_rel = ws.predictions_path.relative_to(ws.root)
    if not force and ws.predictions_path.exists() and ws.read_state("prelabel") == fingerprint:
        console.print(
            f"Predictions are up to date ({pl.name} {pl.version}) -> {escape(str(out_rel))}; "
            "use --force to pre-label again."
        )
        return
    try:
        total = count_rows(source)
    except (pa.ArrowException, OSError) as e:
        raise CorpusError(
            f"{source} is not a readable Parquet file ({e}).",
            "Re-create it with `corpus segment`.",
        ) from e

    quarantine = Quarantine(ws.quarantine_dir, "prelabel")
    sentences = entities = triggers = relations = 0
    progress = progress_bar("sentences")
    with progress, ParquetSink(ws.predictions_path, PREDICTIONS) as sink:
        task = progress.add_task("pre-labeling", total=total)
        for batch in iter_batches(
            source, columns=["sentence_id", "article_id", "text"], batch_size=BATCH_SENTENCES
        ):
            out = prelabel_batch(batch, pl, ontology, quarantine=quarantine, arguments=argumenter)
            sink.write(out)
            relations += sum(len(r or ()) for r in out.column("relations").to_pylist())
            kinds = pc.list_flatten(out.column("spans")).combine_chunks().field("kind")
            entities += _count(kinds, "entity")
            triggers += _count(kinds, "trigger")
            sentences += out.num_rows
            progress.advance(task, batch.num_rows)
    bad = len(quarantine)
    quarantine.flush()
    ws.write_state("prelabel", fingerprint)

    console.print(
        f"Pre-labeled {sentences:,} sentences with {pl.name} ({pl.version}): "
        f"{entities:,} entity spans, {triggers:,} trigger spans, {relations:,} arguments"
        + (f" ({argumenter.name} {argumenter.version})" if argumenter is not None else "")
        + f" -> {escape(str(out_rel))}"
    )
    if bad:
        q_rel = quarantine.path.relative_to(ws.root)
        console.print(f"[yellow]{bad:,} invalid spans quarantined[/] -> {escape(str(q_rel))}")


def _count(values: Any, value: str) -> int:  # a pyarrow array
    import pyarrow.compute as pc

    if not len(values):
        return 0
    return pc.sum(pc.equal(values, value)).as_py() or 0


ontology_app = typer.Typer(
    help="Check the ontology file and render the Label Studio labeling config from it.",
    no_args_is_help=True,
)
app.add_typer(ontology_app, name="ontology")

OntologyFileArg = Annotated[
    Path | None,
    typer.Argument(
        help="Ontology YAML file (default: the workspace's, ontology.path in corpus.toml).",
        show_default=False,
    ),
]


def _ontology_file(path: Path | None, workspace: Path | None) -> Path:
    return path if path is not None else open_workspace(workspace).ontology_path


@ontology_app.command("check")
def ontology_check(path: OntologyFileArg = None, workspace: WorkspaceOpt = None) -> None:
    """Validate the ontology and check its rendered XML (next to it) is up to date.

    Exits with 1 when the ontology is invalid or the XML is out of date.

    Example: corpus ontology check annotation_configs/conflict_events.yaml
    """
    file = _ontology_file(path, workspace)
    from corpus.ontology import label_config_xml, load_ontology  # YAML: loaded when needed

    onto = load_ontology(file)
    console.print(
        f"Ontology {onto.name!r} version {onto.version} is valid ({escape(str(file))}): "
        f"{len(onto.entity_types)} entity types, {len(onto.event_types)} event types, "
        f"{len(onto.roles)} roles, {len(onto.choices)} choices; hash {onto.hash[:12]}"
    )
    xml_path = file.with_suffix(".xml")
    if not xml_path.exists():
        console.print(
            f"No labeling config at {escape(str(xml_path))} yet: run `corpus ontology render`."
        )
    elif xml_path.read_text(encoding="utf-8") != label_config_xml(onto):
        raise CorpusError(
            f"{xml_path} is out of date with {file.name}.",
            "Run `corpus ontology render` to write it again.",
        )
    else:
        console.print(f"Labeling config {escape(str(xml_path))} is up to date.")


@ontology_app.command("render")
def ontology_render(
    path: OntologyFileArg = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help='Where to write the XML ("-" for standard output). Default: next to the '
            "ontology file, with the .xml suffix.",
            show_default=False,
        ),
    ] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Write the Label Studio labeling config (XML) generated from the ontology.

    Example: corpus ontology render -o project.xml
    """
    file = _ontology_file(path, workspace)
    from corpus.ontology import label_config_xml, load_ontology  # YAML: loaded when needed

    xml = label_config_xml(load_ontology(file))
    if output is not None and str(output) == "-":
        sys.stdout.write(xml)
        return
    target = output or file.with_suffix(".xml")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(target)
    tmp.write_text(xml, encoding="utf-8")
    tmp.replace(target)
    console.print(
        f"Wrote the labeling config for {escape(str(file.name))} -> {escape(str(target))}"
    )
