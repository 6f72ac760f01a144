"""`corpus ingest SOURCE...`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from corpus.cli.app import WorkspaceOpt, app, console, open_workspace, progress_bar
from corpus.ingest.sources import FORMATS


@app.command("ingest")
def ingest_cmd(
    sources: Annotated[
        list[Path],
        typer.Argument(
            help="Files or folders: JSONL, JSON array, CSV/TSV, Parquet, a folder of .txt files, "
            "a `datasets` save_to_disk folder; .gz accepted.",
            show_default=False,
        ),
    ],
    workspace: WorkspaceOpt = None,
    text_field: Annotated[
        str | None, typer.Option(help="Field holding the article text (a.b for nested).")
    ] = None,
    id_field: Annotated[
        str | None, typer.Option(help="Field holding the source's own article id.")
    ] = None,
    title_field: Annotated[str | None, typer.Option(help="Field holding the headline.")] = None,
    url_field: Annotated[str | None, typer.Option(help="Field holding the article URL.")] = None,
    date_field: Annotated[
        str | None, typer.Option(help="Field holding the publication date.")
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format", help=f"Force the format: {', '.join(FORMATS)} (default: detected)."
        ),
    ] = None,
    source_name: Annotated[
        str | None,
        typer.Option(
            help="Name recorded as the articles' source (default: the file name). "
            "With the source's own ids it makes the article ids."
        ),
    ] = None,
    min_arabic_ratio: Annotated[
        float | None,
        typer.Option(help="Minimum share of Arabic letters (default from corpus.toml: 0.5)."),
    ] = None,
) -> None:
    """Add articles to data/articles.parquet: clean, deduplicate, quarantine bad rows.

    Example: corpus ingest scraped/*.jsonl.gz --text-field body --id-field guid
    """
    # Imported here: datasketch/scipy take ~1 s to import, which every other command would pay.
    from corpus.ingest.run import IngestOptions, ingest

    ws = open_workspace(workspace, lock="ingest")
    opts = IngestOptions.from_workspace(
        ws,
        text_field=text_field,
        id_field=id_field,
        title_field=title_field,
        url_field=url_field,
        date_field=date_field,
        format=fmt,
        source_name=source_name,
        min_arabic_ratio=min_arabic_ratio,
    )
    progress = progress_bar(out=console)  # totals are bytes read: shown as a percentage
    tasks: dict[str, int] = {}

    def on_progress(source: str, done: int, total: int) -> None:
        if source not in tasks:
            tasks[source] = progress.add_task(f"[bold]ingest {source}", total=total or None)
        progress.update(tasks[source], completed=done, total=total or None)

    with progress:
        reports = ingest(ws, sources, opts, on_progress)

    table = Table(title="ingest")
    for col in (
        "source",
        "format",
        "read",
        "accepted",
        "duplicate",
        "quarantined",
        "near-dup grouped",
    ):
        table.add_column(
            col, justify="left" if col in ("source", "format") else "right", overflow="fold"
        )
    for r in reports:
        c = r.counts
        table.add_row(r.source, r.format, f"{c.read:,}", f"{c.accepted:,}", f"{c.duplicate:,}",
                      f"{c.quarantined:,}", f"{r.near_duplicates:,}")  # fmt: skip
    console.print(table)
    for r in reports:
        if r.counts.read and r.fields.get("text") is None:
            console.print(
                f"[yellow]warning:[/] {r.source}: no text field found; pass --text-field NAME."
            )
    total_q = sum(r.counts.quarantined for r in reports)
    if total_q:
        console.print(
            f"{total_q:,} row(s) quarantined with their reasons in "
            f"{ws.quarantine_dir / 'ingest.parquet'} (see `corpus quarantine`)."
        )
    console.print(f"articles: {ws.articles_path}")
