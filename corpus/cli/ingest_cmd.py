"""`corpus ingest SOURCE...`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from corpus.cli.app import (
    ENGINE_OPTIONS,
    WorkspaceOpt,
    app,
    console,
    engine_options,
    open_workspace,
    progress_bar,
)
from corpus.ingest.sources import FORMATS

if TYPE_CHECKING:
    from corpus.runner import Engine


def _license_option(value: str | None) -> str | None:
    from corpus.licenses import HINT, is_license

    if value is not None and not is_license(value):
        raise typer.BadParameter(f"{value!r} is not an SPDX licence id. {HINT}")
    return value


def _encoding_option(value: str | None) -> str | None:
    import codecs

    if value is not None and value.strip().lower() != "auto":
        try:
            codecs.lookup(value)
        except LookupError:
            raise typer.BadParameter(
                f"unknown encoding {value!r}: use auto, or a name such as utf-8, utf-16, "
                "windows-1256."
            ) from None
    return value


@app.command("ingest")
@engine_options
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
    encoding: Annotated[
        str | None,
        typer.Option(
            help="Text encoding of the sources: auto (detect: BOM, UTF-16, UTF-8, legacy code "
            "pages such as windows-1256) or a name like utf-8, utf-16, windows-1256 "
            "(default from corpus.toml: auto).",
            show_default=False,
            callback=_encoding_option,
        ),
    ] = None,
    license: Annotated[
        str | None,
        typer.Option(
            "--license",
            help="SPDX licence id of the sources (e.g. CC-BY-4.0), recorded on their articles "
            'and for their source name (also: corpus.toml [sources."NAME"] license).',
            show_default=False,
            callback=_license_option,
        ),
    ] = None,
    min_arabic_ratio: Annotated[
        float | None,
        typer.Option(help="Minimum share of Arabic letters (default from corpus.toml: 0.5)."),
    ] = None,
    engine: Engine = ENGINE_OPTIONS,
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
        encoding=encoding,
        license=license,
        min_arabic_ratio=min_arabic_ratio,
    )
    progress = progress_bar(out=console)  # totals are bytes read: shown as a percentage
    tasks: dict[str, int] = {}

    def on_progress(source: str, done: int, total: int) -> None:
        if source not in tasks:
            tasks[source] = progress.add_task(f"[bold]ingest {source}", total=total or None)
        progress.update(tasks[source], completed=done, total=total or None)

    with progress:
        reports = ingest(ws, sources, opts, on_progress, engine=engine)

    table = Table(title="ingest")
    for col in (
        "source",
        "format",
        "encoding",
        "read",
        "accepted",
        "duplicate",
        "quarantined",
        "near-dup grouped",
    ):
        table.add_column(
            col,
            justify="left" if col in ("source", "format", "encoding") else "right",
            overflow="fold",
        )
    for r in reports:
        c = r.counts
        table.add_row(escape(r.source), r.format, r.encoding or "-", f"{c.read:,}", f"{c.accepted:,}", f"{c.duplicate:,}",
                      f"{c.quarantined:,}", f"{r.near_duplicates:,}")  # fmt: skip
    console.print(table)
    for r in reports:
        name = escape(r.source)
        if r.encoding and r.encoding not in ("utf-8", "ascii") and r.encoding_detected:
            console.print(
                f"note: {escape(str(name))}: read as {escape(r.encoding)} (detected; pass --encoding to "
                "choose another)."
            )
        for note in r.notes:
            console.print(f"[yellow]warning:[/] {escape(str(name))}: {escape(note)}")
        if r.fields and r.fields.get("text") is None:
            # Only when some row parsed: rows that did not decode say so below instead.
            console.print(
                f"[yellow]warning:[/] {escape(str(name))}: no text field found; pass --text-field NAME."
            )
        if r.undecodable:
            console.print(
                f"[yellow]warning:[/] {escape(str(name))}: {r.undecodable:,} row(s) did not decode as "
                f"{r.encoding}; their bytes are kept in the quarantine (raw_bytes). If the file "
                "is in another encoding, pass --encoding (e.g. --encoding windows-1256)."
            )
        if r.id_conflicts:
            console.print(
                f"[yellow]warning:[/] {escape(str(name))}: {r.id_conflicts:,} row(s) reuse an article id with "
                "different text. If this is another source with the same name, pass "
                "--source-name NAME."
            )
    total_q = sum(r.counts.quarantined for r in reports)
    if total_q:
        already = sum(r.already_quarantined for r in reports)
        console.print(
            f"{total_q:,} row(s) quarantined with their reasons in "
            f"{escape(str(ws.quarantine_dir / 'ingest.parquet'))} (see `corpus quarantine`)"
            + (f"; {already:,} of them were already there from an earlier run." if already else ".")
        )
    console.print(f"articles: {escape(str(ws.articles_path))}")
