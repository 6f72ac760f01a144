"""`corpus train`: learn a pre-labeler from annotations, a release or external span corpora."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from corpus.cli.app import WorkspaceOpt, app, console, console_err, open_workspace


@app.command()
def train(
    name: Annotated[
        str, typer.Option("--name", "-n", help="Model name: stored in models/NAME/.")
    ] = "default",
    release: Annotated[
        str | None,
        typer.Option(
            "--release",
            help="Train on this published release (its train and validation splits) instead "
            "of the workspace's adjudicated annotations.",
            show_default=False,
        ),
    ] = None,
    extra: Annotated[
        list[Path] | None,
        typer.Option(
            "--extra",
            help="External span corpus to add (repeatable): JSONL with text and "
            "entities [{start, end, label}], or CoNLL/BIO (TOKEN TAG per line).",
            show_default=False,
        ),
    ] = None,
    label_map: Annotated[
        str | None,
        typer.Option(
            "--label-map",
            help="Map or drop labels of --extra files: PERS=PER,LOC=GPE,MISC= (empty drops).",
            show_default=False,
        ),
    ] = None,
    backend: Annotated[
        str,
        typer.Option(
            "--backend",
            help="crf (CPU, minutes, no downloads) or transformer (fine-tunes --base).",
        ),
    ] = "crf",
    base: Annotated[
        str | None,
        typer.Option(
            "--base",
            help="Local Hugging Face checkpoint folder for --backend transformer.",
            show_default=False,
        ),
    ] = None,
    curve: Annotated[
        bool,
        typer.Option(
            "--curve",
            help="Also train on 25/50/75/100%% of the data and print validation F1 per label.",
        ),
    ] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Train a pre-labeling model and store it, versioned, in models/NAME/ with a model card.

    Data: the workspace's adjudicated annotations (default), a release (--release), plus any
    --extra span corpora. A tenth of the sentences (chosen by a hash of their article group) is
    held out to score the model; the scores go into the card. Use the model with
    `corpus prelabel --prelabeler model:NAME` and `corpus project push --select uncertain`.

    Example: corpus train --name ner --extra anercorp.jsonl --label-map PERS=PER,LOC=GPE,MISC=
    """
    from corpus.ontology import load_ontology
    from corpus.train import BACKENDS, TrainError
    from corpus.train.run import gather, learning_curve, train_and_store
    from corpus.train.store import check_name

    if backend not in BACKENDS:
        raise TrainError(f"Unknown backend {backend!r}.", f"Use one of: {', '.join(BACKENDS)}.")
    check_name(name)
    ws = open_workspace(workspace, lock="train")
    ontology = load_ontology(ws.ontology_path)
    if base and not Path(base).expanduser().exists() and (ws.root / base).exists():
        base = str(ws.root / base)  # a checkpoint kept in the workspace, e.g. models/arabert
    data = gather(ws, ontology, release=release, extra=extra, label_map=label_map)
    for rep in data.reports:
        if rep.skipped:
            console_err.print(
                f"[yellow]warning:[/] {escape(str(rep.source))}: {len(rep.skipped)} bad lines skipped",
                highlight=False,
            )
            for line in rep.skipped[:5]:
                console_err.print(f"  {line}", highlight=False, soft_wrap=True)
            if len(rep.skipped) > 5:
                console_err.print(f"  ... and {len(rep.skipped) - 5} more", highlight=False)
    for src in data.sources:
        console.print(f"data: {src}", highlight=False, soft_wrap=True)
    points = None
    if curve:
        with console_err.status("training on 25/50/75/100% of the data"):
            points = learning_curve(ontology, data, backend=backend, base=base)
        _print_curve(points)
    with console_err.status(f"training {backend} on {len(data.examples):,} sentences"):
        result = train_and_store(ws, ontology, data, name, backend=backend, base=base, curve=points)
    card = result.card
    rel = (ws.root / "models" / name / result.version).relative_to(ws.root)
    console.print(
        f"Trained {backend} model [bold]{name} {result.version}[/] on {result.train_sentences:,} "
        f"sentences in {card['training']['seconds']:.1f} s -> {escape(str(rel))} (current)"
    )
    val = card.get("validation")
    if val:
        _print_scores(val, f"validation: {result.validation_sentences:,} sentences, exact spans")
    console.print(f"Use it: corpus prelabel --prelabeler model:{name}")


def _print_scores(val: dict, title: str) -> None:
    table = Table(title=title)
    for col in ("label", "P", "R", "F1", "gold"):
        table.add_column(col, justify="left" if col == "label" else "right")
    for lb, s in val["per_label"].items():
        table.add_row(lb, f"{s['p']:.3f}", f"{s['r']:.3f}", f"{s['f1']:.3f}", str(s["gold"]))
    m = val["micro"]
    table.add_row("micro", f"{m['p']:.3f}", f"{m['r']:.3f}", f"{m['f1']:.3f}", "")
    console.print(table)


def _print_curve(points: list[dict]) -> None:
    labels = sorted({lb for p in points for lb in p["scores"]["per_label"]})
    table = Table(title="learning curve: validation F1 per label")
    table.add_column("data")
    table.add_column("sentences", justify="right")
    for lb in labels:
        table.add_column(lb, justify="right")
    table.add_column("micro", justify="right")
    for p in points:
        per = p["scores"]["per_label"]
        table.add_row(
            f"{p['share']:.0%}",
            f"{p['sentences']:,}",
            *(f"{per[lb]['f1']:.3f}" if lb in per else "-" for lb in labels),
            f"{p['scores']['micro']['f1']:.3f}",
        )
    console.print(table)
