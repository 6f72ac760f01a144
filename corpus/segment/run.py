"""The segment stage's driver: data/articles.parquet -> data/sentences.parquet on the runner."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from corpus.errors import CorpusError, WorkspaceConfigError
from corpus.io import ParquetSink, parquet_file
from corpus.runner import Engine, Stage, map_parquet
from corpus.schemas import SENTENCES
from corpus.segment.spans import segment_batch
from corpus.workspace import CONFIG_NAME, Workspace

BATCH_ARTICLES = 512  # ~1.5 MB of text per batch: memory stays flat however big the corpus


@dataclass
class SegmentReport:
    articles: int = 0
    sentences: int = 0
    empty: int = 0  # articles without any sentence (whitespace-only text)


def configured_max_chars(ws: Workspace) -> int:
    """`[segment] max_sentence_chars` from corpus.toml, checked (0 means no limit)."""
    value = ws.section("segment").get("max_sentence_chars", 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise WorkspaceConfigError(
            str(ws.root / CONFIG_NAME),
            f"[segment] max_sentence_chars must be a whole number >= 0, not {value!r}",
        )
    return value


def check_articles(source: str | Path) -> int:
    """Rows of the articles file, after checking it is readable Parquet with what segment needs."""
    try:
        pf = parquet_file(source)
        total, columns = pf.metadata.num_rows, set(pf.schema_arrow.names)
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
    return total


def segment_file(
    source: str | Path,
    dest: str | Path,
    *,
    max_chars: int = 0,
    engine: Engine | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> SegmentReport:
    """Segment every article of `source` into `dest` (paths or URIs), in article order.

    `on_progress(articles_done)` is called as batches finish.
    """
    total = check_articles(source)
    report = SegmentReport(articles=total)
    stage = Stage(segment_batch, {"max_chars": max_chars})
    last = None
    seen = 0
    with ParquetSink(dest, SENTENCES) as sink:
        for out in map_parquet(
            stage, source, columns=["article_id", "text"], batch_rows=BATCH_ARTICLES, engine=engine
        ):
            sink.write(out.select(SENTENCES.names))
            report.sentences += out.num_rows
            # Output is in article order: count each article's first sentence once.
            ids = out.column("article_id").to_pylist()
            for aid in ids:
                if aid != last:
                    seen += 1
                    last = aid
            if on_progress:
                on_progress(seen)
    report.empty = total - seen
    return report


def segment_workspace(
    ws: Workspace,
    *,
    max_chars: int | None = None,
    engine: Engine | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> SegmentReport:
    """`corpus segment`: the workspace's articles into its sentences file."""
    from corpus.io import require

    limit = configured_max_chars(ws) if max_chars is None else max_chars
    source = require(ws.articles_path, "corpus ingest SOURCE")
    return segment_file(
        source, ws.sentences_path, max_chars=limit, engine=engine, on_progress=on_progress
    )
