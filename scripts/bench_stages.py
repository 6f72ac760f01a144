#!/usr/bin/env python3
"""Every runner stage with 1 and 2 local workers side by side, and on a local Ray, in one run.

Run with the project environment:

    .venv/bin/python scripts/bench_stages.py [--articles 2000] [--sentences 20000] [--no-ray]

Input: `benchmarks.synth.generate_articles` (~3 KB Arabic news articles) written to a temporary
Parquet file; the prelabel and tokens stages read the first --sentences of their segmentation.
Each stage runs through `corpus.runner` exactly as the commands do (batches cut by rows, results
in input order) and every configuration's output is checked equal to the 1-worker output. Times
are wall-clock seconds (the speed-up is what the workers buy); Ray's start-up is reported on its
own line and not counted in the stage times. A machine shared with other work shows lower
speed-ups than a quiet one.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from benchmarks.synth import generate_articles  # noqa: E402
from corpus.ingest.run import RAW_BATCH, CleanAndSign, IngestOptions  # noqa: E402
from corpus.ontology import default_ontology_path, load_ontology  # noqa: E402
from corpus.prelabel import PrelabelStage  # noqa: E402
from corpus.publish.tokens import TokenTagger  # noqa: E402
from corpus.runner import Engine, Stage, map_parquet  # noqa: E402
from corpus.segment import segment_batch  # noqa: E402


def inputs(tmp: Path, n_articles: int, n_sentences: int) -> dict[str, tuple[Stage, Path, int]]:
    """stage name -> (stage, input Parquet file, batch rows), as the drivers batch them."""
    arts = list(generate_articles(n_articles, seed=11))
    raw = pa.Table.from_pylist(
        [
            {"source": "bench", "location": f"line {i + 1}", "source_id": a["id"],
             "title": a["title"], "text": a["text"], "url": a["url"],
             "published_at": a["published_at"], "raw": None, "license": None,
             "reject_reason": None}
            for i, a in enumerate(arts)
        ],
        schema=RAW_BATCH,
    )  # fmt: skip
    articles = pa.table({"article_id": raw["source_id"], "text": raw["text"]})
    sentences = segment_batch(articles).slice(0, n_sentences)
    onto = load_ontology(default_ontology_path())
    spans = pa.array(
        [
            [{"start": 0, "end": min(4, len(t)), "label": "PER"}]
            for t in sentences["text"].to_pylist()
        ],
        pa.list_(pa.struct([("start", pa.int32()), ("end", pa.int32()), ("label", pa.string())])),
    )
    tagging = pa.table(
        {"id": sentences["sentence_id"], "text": sentences["text"], "entities": spans,
         "triggers": pa.array([[]] * sentences.num_rows, pa.list_(pa.struct(
             [("start", pa.int32()), ("end", pa.int32()), ("event_type", pa.string())])))}
    )  # fmt: skip
    files = {
        "ingest (clean + MinHash)": (raw, 1000),
        "segment": (articles, 512),
        "prelabel (lexicon)": (sentences.select(["sentence_id", "article_id", "text"]), 4096),
        "tokens (BIO)": (tagging, 2048),
    }
    stages = {
        "ingest (clean + MinHash)": Stage(CleanAndSign, {"opts": IngestOptions()}),
        "segment": Stage(segment_batch, {"max_chars": 0}),
        "prelabel (lexicon)": Stage(
            PrelabelStage, {"spec": "lexicon", "ontology_path": str(default_ontology_path())}
        ),
        "tokens (BIO)": Stage(TokenTagger(list(onto.entity_types), list(onto.event_types))),
    }
    out = {}
    for name, (table, rows) in files.items():
        path = tmp / (name.split()[0] + ".parquet")
        pq.write_table(table, path)
        out[name] = (stages[name], path, rows)
    return out


def cpu(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def run(
    stage: Stage, path: Path, rows: int, engine: Engine
) -> tuple[float, pa.Table, float, float]:
    """Wall seconds, output, CPU seconds of this process and of the pool's workers."""
    t0, p0, c0 = time.perf_counter(), cpu(resource.RUSAGE_SELF), cpu(resource.RUSAGE_CHILDREN)
    tables = list(map_parquet(stage, path, batch_rows=rows, engine=engine))
    seconds = time.perf_counter() - t0
    parent = cpu(resource.RUSAGE_SELF) - p0
    workers = cpu(resource.RUSAGE_CHILDREN) - c0  # the pool's workers, reaped at its shutdown
    return seconds, pa.concat_tables(tables) if tables else pa.table({}), parent, workers


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--articles", type=int, default=2000)
    ap.add_argument("--sentences", type=int, default=20000)
    ap.add_argument("--no-ray", action="store_true", help="skip the Ray column")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        stages = inputs(Path(tmp), args.articles, args.sentences)
        print(f"{os.cpu_count()} CPUs, {args.articles:,} articles, up to {args.sentences:,} "
              f"sentences; load average {os.getloadavg()[0]:.1f}")  # fmt: skip
        results: dict[str, dict[str, float]] = {}
        reference: dict[str, pa.Table] = {}
        for name, (stage, path, rows) in stages.items():
            results[name] = {}
            for workers in (1, 2):
                secs, out, parent, child = run(stage, path, rows, Engine(workers=workers))
                results[name][f"{workers}w"] = secs
                results[name][f"{workers}w-cpu"] = (parent, child)
                if workers == 1:
                    reference[name] = out
                else:
                    assert out.equals(reference[name]), f"{name}: 2 workers differ from 1"
        ray_start = None
        if not args.no_ray:
            import ray

            t0 = time.perf_counter()
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
            ray_start = time.perf_counter() - t0
            try:
                for name, (stage, path, rows) in stages.items():
                    secs, out, _, _ = run(stage, f"file://{path}", rows, Engine("ray", workers=2))
                    results[name]["ray"] = secs
                    assert out.to_pylist() == reference[name].to_pylist(), f"{name}: ray differs"
            finally:
                ray.shutdown()
        print(f"\n{'stage':28} {'rows in':>8} {'1 worker':>9} {'2 workers':>10} {'speed-up':>9}"
              + ("" if args.no_ray else f" {'ray local':>10}")
              + f"  {'CPU s driver+workers (1w | 2w)':>32}")  # fmt: skip
        for name, (_stage, path, _rows) in stages.items():
            r = results[name]
            n = pq.ParquetFile(path).metadata.num_rows
            line = (f"{name:28} {n:>8,} {r['1w']:>8.2f}s {r['2w']:>9.2f}s "
                    f"{r['1w'] / r['2w']:>8.2f}x")  # fmt: skip
            if "ray" in r:
                line += f" {r['ray']:>9.2f}s"
            (p1, c1), (p2, c2) = r["1w-cpu"], r["2w-cpu"]
            line += f"  {p1:>6.2f}+{c1:<6.2f} | {p2:>6.2f}+{c2:<6.2f}"
            print(line)
        if ray_start is not None:
            print(f"(ray.init(num_cpus=2) took {ray_start:.1f} s, not counted above)")
        print("outputs: 2 workers and Ray equal to 1 worker, row by row")
        print(
            "CPU s: the driver's and the workers' CPU time; on an idle 2-core machine the "
            "2-worker wall time approaches max(driver, workers / 2)"
        )


if __name__ == "__main__":
    main()
