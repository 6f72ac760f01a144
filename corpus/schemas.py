"""Explicit Arrow schemas for every stage file. Offsets are int32 code points."""

from __future__ import annotations

import pyarrow as pa

ARTICLES = pa.schema(
    [
        pa.field("article_id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),  # the file or dataset it came from
        pa.field("source_id", pa.string()),  # id inside the source, when it had one
        pa.field("title", pa.string()),
        pa.field("text", pa.string(), nullable=False),  # canonical text: offsets point into it
        pa.field("url", pa.string()),
        pa.field("published_at", pa.string()),  # as given (ISO 8601 when parseable)
        pa.field("dup_group", pa.string(), nullable=False),  # near-duplicate group key
        pa.field("content_hash", pa.string(), nullable=False),  # of the canonical text
        pa.field("arabic_ratio", pa.float32()),
        # SPDX licence id (or expression) of the source, null when unknown. Files written before
        # the column existed read it as null (`with_license`).
        pa.field("license", pa.string()),
    ]
)

QUARANTINE = pa.schema(
    [
        pa.field("stage", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("location", pa.string(), nullable=False),  # "line 12", "row 3", "file x.txt"
        pa.field("reason", pa.string(), nullable=False),
        pa.field("raw", pa.string()),  # the row as read (truncated), so it can be fixed and re-fed
        # The exact bytes of a row that could not be decoded (raw then shows them escaped), so
        # nothing is lost to replacement characters; null otherwise.
        pa.field("raw_bytes", pa.binary()),
    ]
)

SENTENCES = pa.schema(
    [
        pa.field("sentence_id", pa.string(), nullable=False),
        pa.field("article_id", pa.string(), nullable=False),
        pa.field("index", pa.int32(), nullable=False),
        pa.field("start", pa.int32(), nullable=False),  # into articles.text
        pa.field("end", pa.int32(), nullable=False),
        pa.field("text", pa.string(), nullable=False),  # == article.text[start:end]
    ]
)

PREDICTED_SPAN = pa.struct(
    [
        pa.field("start", pa.int32()),  # into sentences.text
        pa.field("end", pa.int32()),
        pa.field("label", pa.string()),
        pa.field("kind", pa.string()),  # "entity" | "trigger"
        pa.field("score", pa.float32()),
        pa.field("source", pa.string()),
    ]
)

# A predicted argument: spans[trigger] -> spans[entity] of the same row, with a role.
PREDICTED_RELATION = pa.struct(
    [
        pa.field("trigger", pa.int32()),  # index into the row's spans
        pa.field("entity", pa.int32()),
        pa.field("role", pa.string()),
        pa.field("score", pa.float32()),
        pa.field("source", pa.string()),  # "rules" | "learned"
    ]
)

PREDICTIONS = pa.schema(
    [
        pa.field("sentence_id", pa.string(), nullable=False),
        pa.field("article_id", pa.string(), nullable=False),
        pa.field("spans", pa.list_(PREDICTED_SPAN), nullable=False),
        pa.field("source", pa.string(), nullable=False),  # pre-labeler name
        pa.field("model_version", pa.string(), nullable=False),
        # Argument pre-labels (corpus.prelabel.arguments); null when none were predicted. Files
        # written before this column existed are read as if it were null.
        pa.field("relations", pa.list_(PREDICTED_RELATION)),
    ]
)

ENTITY = pa.struct(
    [
        pa.field("id", pa.string()),  # Label Studio region id
        pa.field("start", pa.int32()),  # into sentences.text
        pa.field("end", pa.int32()),
        pa.field("label", pa.string()),
        pa.field("text", pa.string()),
    ]
)

TRIGGER = pa.struct(
    [
        pa.field("id", pa.string()),
        pa.field("start", pa.int32()),
        pa.field("end", pa.int32()),
        pa.field("event_type", pa.string()),
        pa.field("text", pa.string()),
    ]
)

ARGUMENT = pa.struct(
    [
        pa.field("trigger_id", pa.string()),
        pa.field("entity_id", pa.string()),
        pa.field("role", pa.string()),
    ]
)

ANNOTATIONS = pa.schema(
    [
        pa.field("annotation_id", pa.int64(), nullable=False),
        pa.field("task_id", pa.int64(), nullable=False),
        pa.field("project_id", pa.int64(), nullable=False),
        pa.field("sentence_id", pa.string(), nullable=False),
        pa.field("article_id", pa.string()),
        pa.field("annotator", pa.string(), nullable=False),  # pseudonymous, stable
        pa.field("created_at", pa.timestamp("us", tz="UTC")),
        pa.field("updated_at", pa.timestamp("us", tz="UTC")),
        pa.field("lead_time", pa.float64()),
        pa.field("cancelled", pa.bool_(), nullable=False),
        pa.field("prediction_id", pa.int64()),
        pa.field("prediction_model_version", pa.string()),
        pa.field("sentence_text", pa.string()),
        pa.field("entities", pa.list_(ENTITY), nullable=False),
        pa.field("triggers", pa.list_(TRIGGER), nullable=False),
        pa.field("arguments", pa.list_(ARGUMENT), nullable=False),
        pa.field("choice", pa.string()),  # has-event / no-event / noise, or null
        pa.field("raw_result", pa.string(), nullable=False),  # the Label Studio result, as JSON
    ]
)
