"""Stage 1, ingest: read sources, fix each article's canonical text, set aside duplicates and
near-duplicates, quarantine bad rows (`run` is the driver, `sources` the readers, `dedup` the
MinHash near-duplicate index)."""
