"""Annotated training-corpus builder for Arabic event models.

The flow, one subpackage per stage over a small core (`types`, `schemas`, `errors`, `ids`,
`workspace`, `io`, `text`, `ontology`, `quarantine`):

    ingest    sources -> data/articles.parquet        corpus.ingest
    segment   -> data/sentences.parquet               corpus.segment
    prelabel  -> data/predictions.parquet             corpus.prelabel
    push      -> Label Studio project                 corpus.labelstudio
    pull      -> data/annotations.parquet             corpus.pull
    publish   -> releases/<version>/                  corpus.publish

`corpus.cli` is the command line, thin over these.
"""

__version__ = "0.1.0"
