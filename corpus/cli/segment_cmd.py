"""`corpus segment`: split every ingested article into sentences (data/sentences.parquet)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from corpus.cli.app import (
    ENGINE_OPTIONS,
    WorkspaceOpt,
    app,
    console,
    engine_options,
    open_workspace,
    progress_bar,
)

if TYPE_CHECKING:
    from corpus.runner import Engine


@app.command()
@engine_options
def segment(
    max_chars: Annotated[
        int | None,
        typer.Option(
            "--max-chars",
            min=0,
            help="Cut sentences longer than N characters at `؛`, else `،`, else whitespace, so "
            "annotation tasks stay short (0: never cut). Default: segment.max_sentence_chars "
            "in corpus.toml.",
            show_default=False,
        ),
    ] = None,
    engine: Engine = ENGINE_OPTIONS,
    workspace: WorkspaceOpt = None,
) -> None:
    """Split ingested articles into sentences: data/articles.parquet -> data/sentences.parquet.

    Offsets point into each article; ids come from content, so a re-run gives the same file
    (whatever the engine and number of workers).

    Examples: corpus segment --max-chars 400; corpus segment --workers 4
    """
    # Imported here, not at the top: pyarrow and the segmenter's patterns take ~0.3 s to load,
    # which `corpus --help` and every other command would pay.
    from corpus.segment.run import configured_max_chars, segment_workspace

    ws = open_workspace(workspace, lock="segment")
    limit = configured_max_chars(ws) if max_chars is None else max_chars
    progress = progress_bar("articles")
    with progress:
        task = progress.add_task(f"segmenting ({engine.describe()})", total=None)
        report = segment_workspace(
            ws,
            max_chars=limit,
            engine=engine,
            on_progress=lambda done: progress.update(task, completed=done),
        )
    rel = ws.shown(ws.sentences_path)
    console.print(
        f"Segmented {report.articles:,} articles into {report.sentences:,} sentences -> {escape(str(rel))}"
    )
    if limit:
        console.print(f"sentences over {limit:,} characters were cut at ؛ / ، / a space")
    if report.empty:
        console.print(f"[yellow]{report.empty:,} articles had no text to segment[/]")
