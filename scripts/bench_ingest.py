#!/usr/bin/env python
"""Benchmark ingest: N generated ~3 KB Arabic articles (default 100,000) through `corpus ingest`
with near-duplicate detection on, in a child process pinned to one core.

Prints throughput, the child's CPU time and peak RSS next to the targets (< 120 s, < 1.5 GB).
Usage: .venv/bin/python scripts/bench_ingest.py [--articles N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.synth import generate_articles  # noqa: E402

TARGET_SECONDS = 120.0
TARGET_RSS_MB = 1536.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--articles", type=int, default=100_000)
    ap.add_argument("--keep", type=Path, help="folder to keep the generated workspace in")
    args = ap.parse_args()

    tmp = args.keep or Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    tmp.mkdir(parents=True, exist_ok=True)
    src = tmp / "articles.jsonl"
    t0 = time.perf_counter()
    size = 0
    with open(src, "w", encoding="utf-8") as f:
        for art in generate_articles(args.articles, seed=7):
            line = json.dumps(art, ensure_ascii=False) + "\n"
            size += len(line.encode("utf-8"))
            f.write(line)
    print(
        f"generated {args.articles:,} articles, {size / 1e6:,.0f} MB, in {time.perf_counter() - t0:.1f} s"
    )

    ws = tmp / "ws"
    corpus = [sys.executable, "-m", "corpus"]
    subprocess.run([*corpus, "init", str(ws)], check=True, cwd=ROOT, capture_output=True)
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    cmd = ["taskset", "-c", "0", *corpus, "ingest", str(src), "-w", str(ws)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU time too: wall time on a shared machine measures the other jobs as well.
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if proc.returncode != 0:
        sys.exit(f"ingest failed:\n{proc.stdout}\n{proc.stderr}")
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(proc.stdout)
    rate = args.articles / elapsed
    print("stage   | articles | seconds | CPU s | articles/s | MB/s | peak RSS MB | target")
    print(
        f"ingest  | {args.articles:,} | {elapsed:.1f} | {cpu:.1f} | {rate:,.0f} | "
        f"{size / 1e6 / elapsed:.1f} | "
        f"{peak_mb:,.0f} | < {TARGET_SECONDS:.0f} s, < {TARGET_RSS_MB:,.0f} MB "
        f"({'met' if elapsed < TARGET_SECONDS * args.articles / 100_000 and peak_mb < TARGET_RSS_MB else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
