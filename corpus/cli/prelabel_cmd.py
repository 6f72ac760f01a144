"""`corpus prelabel` (sentences -> predictions) and `corpus ontology check|render`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from corpus.cli.app import (
    ENGINE_OPTIONS,
    WorkspaceOpt,
    app,
    console,
    console_err,
    engine_options,
    open_workspace,
    progress_bar,
)
from corpus.errors import CorpusError
from corpus.lock import temp_path

if TYPE_CHECKING:
    from corpus.runner import Engine


@app.command()
@engine_options
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
    engine: Engine = ENGINE_OPTIONS,
    workspace: WorkspaceOpt = None,
) -> None:
    """Pre-label sentences with entity and event-trigger spans, and argument roles between
    them: data/sentences.parquet -> data/predictions.parquet.

    Every span is checked against the workspace ontology before it is written; invalid spans go
    to data/quarantine/prelabel.parquet with the reason. Re-running with the same sentences,
    pre-labeler and ontology does nothing (use --force to redo).

    Examples: corpus prelabel --prelabeler lexicon; corpus prelabel --engine ray
    """
    # Imported here, not at the top: pyarrow and the ontology's YAML parser take ~0.3 s to
    # load, which `corpus --help` and every other command would pay.
    from corpus.prelabel.run import prelabel_workspace

    ws = open_workspace(workspace, lock="prelabel")
    out_rel = ws.shown(ws.predictions_path)
    progress = progress_bar("sentences")
    with progress:
        task = progress.add_task(f"pre-labeling ({engine.describe()})", total=None)
        report = prelabel_workspace(
            ws,
            prelabeler,
            model_fallback=fallback,
            arguments=arguments,
            force=force,
            engine=engine,
            on_progress=lambda done: progress.update(task, completed=done),
        )
    for note in report.warnings:
        console_err.print(f"[yellow]warning:[/] {escape(note)}", highlight=False)
    if report.up_to_date:
        console.print(
            f"Predictions are up to date ({report.name} {report.version}) -> {escape(str(out_rel))}; "
            "use --force to pre-label again."
        )
        return
    console.print(
        f"Pre-labeled {report.sentences - report.failed:,} sentences with {report.name} "
        f"({report.version}): {report.entities:,} entity spans, {report.triggers:,} trigger "
        f"spans, {report.relations:,} arguments"
        + (f" ({report.arguments})" if report.arguments else "")
        + f" -> {escape(str(out_rel))}"
    )
    q_rel = ws.shown(ws.quarantine_dir / "prelabel.parquet")
    if report.rejected_spans:
        console.print(
            f"[yellow]{report.rejected_spans:,} invalid spans quarantined[/] -> {escape(str(q_rel))}"
        )
    if report.failed:
        console.print(
            f"[yellow]{report.failed:,} sentences the pre-labeler failed on quarantined[/] "
            f"-> {escape(str(q_rel))}"
        )


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
