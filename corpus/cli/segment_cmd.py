"""`corpus segment`: split every ingested article into sentences (data/sentences.parquet)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from corpus.cli.app import WorkspaceOpt, app, console, open_workspace, progress_bar
from corpus.errors import CorpusError, WorkspaceConfigError
from corpus.workspace import CONFIG_NAME, Workspace

BATCH_ARTICLES = 512  # ~1.5 MB of text per batch: memory stays flat however big the corpus


def configured_max_chars(ws: Workspace) -> int:
    """`[segment] max_sentence_chars` from corpus.toml, checked (0 means no limit)."""
    value = ws.section("segment").get("max_sentence_chars", 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise WorkspaceConfigError(
            str(ws.root / CONFIG_NAME),
            f"[segment] max_sentence_chars must be a whole number >= 0, not {value!r}",
        )
    return value


@app.command()
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
    workspace: WorkspaceOpt = None,
) -> None:
    """Split ingested articles into sentences: data/articles.parquet -> data/sentences.parquet.

    Offsets point into each article; ids come from content, so a re-run gives the same file.

    Example: corpus segment --max-chars 400
    """
    # Imported here, not at the top: pyarrow and the segmenter's patterns take ~0.3 s to load,
    # which `corpus --help` and every other command would pay.
    import pyarrow as pa
    import pyarrow.parquet as pq

    from corpus.io import ParquetSink, count_rows, iter_batches, require
    from corpus.schemas import SENTENCES
    from corpus.segment.spans import segment_batch

    ws = open_workspace(workspace, lock="segment")
    limit = configured_max_chars(ws) if max_chars is None else max_chars
    source = require(ws.articles_path, "corpus ingest SOURCE")
    try:
        total = count_rows(source)
        columns = set(pq.read_schema(source).names)
    except (pa.ArrowException, OSError) as e:
        raise CorpusError(
            f"{source} is not a readable Parquet file ({e}).",
            "Re-create it with `corpus ingest SOURCE`.",
        ) from e
    missing = sorted({"article_id", "text"} - columns)
    if missing:
        raise CorpusError(
            f"{source} has no {' or '.join(missing)} column (it has: {', '.join(sorted(columns))}).",
            "Re-create it with `corpus ingest SOURCE`.",
        )

    articles = sentences = empty = 0
    progress = progress_bar("articles")
    with progress, ParquetSink(ws.sentences_path, SENTENCES) as sink:
        task = progress.add_task("segmenting", total=total)
        for batch in iter_batches(
            source, columns=["article_id", "text"], batch_size=BATCH_ARTICLES
        ):
            table = pa.Table.from_batches([batch])
            out = segment_batch(table, max_chars=limit)
            sink.write(out)
            # Articles without any sentence (whitespace-only text) are counted, not silently lost.
            empty += sum(1 for t in table.column("text").to_pylist() if not (t or "").strip())
            articles += table.num_rows
            sentences += out.num_rows
            progress.advance(task, table.num_rows)

    rel = ws.sentences_path.relative_to(ws.root)
    console.print(
        f"Segmented {articles:,} articles into {sentences:,} sentences -> {escape(str(rel))}"
    )
    if limit:
        console.print(f"sentences over {limit:,} characters were cut at ؛ / ، / a space")
    if empty:
        console.print(f"[yellow]{empty:,} articles had no text to segment[/]")
