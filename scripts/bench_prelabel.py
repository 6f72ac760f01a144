"""Throughput of the default (lexicon) pre-labeler on one core, with peak memory.

Sentences come from benchmarks.synth.generate_sentences (realistic synthetic conflict news). The
word cache starts empty, so the figure includes analysing every new word once.

Run: .venv/bin/python scripts/bench_prelabel.py [--sentences 100000] [--seed 0]
Target: >= 5,000 sentences/s on one core.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGET = 5_000


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sentences", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core

    from benchmarks.synth import generate_sentences
    from corpus.prelabel import default_prelabeler

    texts = list(generate_sentences(args.sentences, seed=args.seed))
    chars = sum(map(len, texts))
    rss_before = peak_rss_mb()

    prelabeler = default_prelabeler()
    t0 = time.perf_counter()
    version = prelabeler.version  # loads the resources
    load_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    spans = 0
    kinds: dict[str, int] = {}
    for batch_start in range(0, len(texts), 4096):
        for result in prelabeler.predict_batch(texts[batch_start : batch_start + 4096]):
            spans += len(result)
            for s in result:
                kinds[s.kind] = kinds.get(s.kind, 0) + 1
    dt = time.perf_counter() - t0
    rate = len(texts) / dt
    rss_predict = peak_rss_mb()

    # The whole stage function: Arrow batch in, spans validated against the ontology, Arrow out.
    import pyarrow as pa

    from corpus.ontology import default_ontology_path, load_ontology
    from corpus.prelabel import prelabel_batch
    from corpus.schemas import SENTENCES

    ontology = load_ontology(default_ontology_path())
    table = pa.Table.from_pylist(
        [
            {
                "sentence_id": f"s{i}",
                "article_id": "a",
                "index": i,
                "start": 0,
                "end": len(t),
                "text": t,
            }
            for i, t in enumerate(texts)
        ],
        schema=SENTENCES,
    )
    t0 = time.perf_counter()
    for batch in table.to_batches(max_chunksize=4096):
        prelabel_batch(batch, prelabeler, ontology)
    stage_rate = len(texts) / (time.perf_counter() - t0)

    print(f"pre-labeler       {prelabeler.name} {version}")
    print(f"sentences         {len(texts):,} ({chars / len(texts):.0f} chars on average)")
    print(f"resources load    {load_s:.2f} s (once per process)")
    print(f"predict           {dt:.2f} s on one core")
    print(
        f"throughput        {rate:,.0f} sentences/s   (target >= {TARGET:,}: {'OK' if rate >= TARGET else 'BELOW'})"
    )
    print(f"                  {chars / dt / 1e6:.2f} M chars/s")
    print(
        f"stage function    {stage_rate:,.0f} sentences/s (prelabel_batch: + validation and Arrow rows)"
    )
    print(
        f"spans             {spans:,} ({', '.join(f'{k} {v:,}' for k, v in sorted(kinds.items()))})"
    )
    print(
        f"peak RSS          {rss_predict:.0f} MB after predict ({rss_before:.0f} MB before loading "
        f"the pre-labeler, with the {len(texts):,} sentences in memory)"
    )
    print(
        f"                  {peak_rss_mb():.0f} MB after the stage run (this script builds the whole "
        "table in memory; corpus prelabel streams batches)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
