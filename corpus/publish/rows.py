"""The publish stage: a chunk of whole articles -> their rows of the tokens, events and documents
configs, as one batch function for `corpus.runner` (process pool or Ray Data).

Shape. A stage returns one table, and Ray may cut the input into batches of any number of rows,
so a row must hold everything one article needs. The input is one row per article
(`article_rows`): the article's `article_id`, `dup_group`, `title`, `url`, `published_at`,
`text`, and `sentences`, its rows of the sentences config in reading order. The output is one row
per article, in the same order:

- `document`: the article's row of the documents config (a struct);
- `tokens`, `events`: its sentences' rows of the tokens and events configs (lists, one item per
  sentence, in order);
- `entities_spans` ... `triggers_empty`: the BIO alignment counts of its sentences, summed
  (`tokens.COUNT_FIELDS`; `tokens.alignment_counts` sums them over a batch).

The driver flattens the lists back into config rows (`config_rows`). One stage for the three
configs, not one per config: tokens, events and documents are built from the same sentences (the
events config reuses the tokens), so one trip per chunk ships the sentences once. Memory stays
bounded because the driver sends batches of about `build.BATCH_ROWS` sentences (whole
articles) and the runner keeps only
a few in flight. Label counts are not a column: the driver counts them on the sentences rows it
writes anyway.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpus.publish.configs import build_documents, release_features, spans_for_tagging
from corpus.publish.events import build_event_rows
from corpus.publish.tokens import COUNT_FIELDS, TokenTagger

ARTICLE_COLUMNS = ("article_id", "dup_group", "title", "url", "published_at", "text")
COUNT_COLUMNS = tuple(f"{kind}_{f}" for kind in ("entities", "triggers") for f in COUNT_FIELDS)
# Sentences are tokenized this many at a time: small arrays keep memory flat and are fast to make.
TOKEN_BATCH = 8192


def article_rows(sentences: pa.Table, articles: pa.Table) -> pa.Table:
    """The stage's input: one row per article of `sentences` (rows of the sentences config,
    sorted by article, then position), its columns from `articles`, its sentences as a list."""
    n = sentences.num_rows
    art = _combine(sentences["article_id"])
    if n:
        change = pc.not_equal(art.slice(1), art.slice(0, n - 1)).to_numpy(zero_copy_only=False)
        first = np.concatenate(([0], np.flatnonzero(change) + 1))
    else:
        first = np.zeros(0, dtype=np.int64)
    bounds = np.concatenate((first, [n])).astype(np.int32)
    ids = pc.take(art, pa.array(first, pa.int64()))
    meta = articles.select(list(ARTICLE_COLUMNS)).take(
        pc.index_in(ids, value_set=articles["article_id"])
    )
    sentences = sentences.combine_chunks()
    nested = pa.StructArray.from_arrays(
        [_combine(c) for c in sentences.columns], fields=list(sentences.schema)
    )
    return meta.append_column("sentences", pa.ListArray.from_arrays(pa.array(bounds), nested))


class ReleaseRows:
    """The stage (see the module docstring): made once per worker from the ontology's types.

    It holds only what `__init__` builds (the config schemas and the tagger) and never changes
    it, so any worker may run any chunk.
    """

    def __init__(self, entity_types: Sequence[str], event_types: Sequence[str]) -> None:
        features = release_features(list(entity_types), list(event_types))
        self.schemas = {name: f.arrow_schema for name, f in features.items()}
        self.tagger = TokenTagger(list(entity_types), list(event_types))

    def __call__(self, batch: pa.Table) -> pa.Table:
        lists = _combine(batch["sentences"])
        offsets = _offsets(lists)
        sentences = pa.Table.from_struct_array(pc.list_flatten(lists))
        tagged = pa.concat_tables(
            self.tagger(spans_for_tagging(sentences.slice(lo, TOKEN_BATCH)))
            for lo in range(0, max(sentences.num_rows, 1), TOKEN_BATCH)
        )
        schema = self.schemas["tokens"]
        tokens = tagged.add_column(1, "text", sentences["text"]).select(schema.names).cast(schema)
        events = build_event_rows(sentences, tokens).cast(self.schemas["events"])
        docs = build_documents(sentences, batch.drop_columns(["sentences"]))
        docs = docs.cast(self.schemas["documents"])
        if docs.num_rows != batch.num_rows:  # an article's sentences were not together
            raise ValueError(
                f"{batch.num_rows} articles gave {docs.num_rows} documents: "
                "the input must have one row per article"
            )
        columns = {
            "document": _struct(docs),
            "tokens": _nest(offsets, tokens),
            "events": _nest(offsets, events),
        }
        for name in COUNT_COLUMNS:  # per article: the sums of its sentences' counts
            per_sentence = _combine(tagged[name]).to_numpy().astype(np.int64)
            columns[name] = pa.array(_sums(per_sentence, offsets), pa.int32())
        return pa.table(columns)


def config_rows(out: pa.Table, column: str, schema: pa.Schema) -> pa.Table:
    """Rows of one config from stage output: `document` (one per article), `tokens` or
    `events` (one per sentence), as a one-chunk table of `schema`."""
    values = _combine(out[column])
    if column != "document":
        values = pc.list_flatten(values)
    return pa.Table.from_struct_array(values).cast(schema).combine_chunks()


def _combine(col: pa.Array | pa.ChunkedArray) -> pa.Array:
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col


def _offsets(lists: pa.Array) -> np.ndarray:
    """List offsets from 0 (n + 1,), right for sliced arrays too."""
    lengths = pc.list_value_length(lists).fill_null(0).to_numpy().astype(np.int64)
    out = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=out[1:])
    return out


def _struct(table: pa.Table) -> pa.StructArray:
    table = table.combine_chunks()
    return pa.StructArray.from_arrays(
        [_combine(c) for c in table.columns], fields=list(table.schema)
    )


def _nest(offsets: np.ndarray, table: pa.Table) -> pa.ListArray:
    return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), _struct(table))


def _sums(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    totals = np.zeros(values.size + 1, dtype=np.int64)
    np.cumsum(values, out=totals[1:])
    return totals[offsets[1:]] - totals[offsets[:-1]]
