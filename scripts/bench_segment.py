#!/usr/bin/env python3
"""Throughput and peak memory of `corpus.segment.spans.sentence_spans` on a generated news corpus.

Run with the project environment:  .venv/bin/python scripts/bench_segment.py [--articles N]

The corpus comes from `benchmarks.synth.generate_articles` (~3 KB Arabic news articles); when that
module is not available, articles are assembled from the bundled samples
(corpus/samples/articles.jsonl) by shuffling their paragraphs. Every timing runs pinned to one
CPU and counts CPU seconds of its process (the machine may be shared). When .venv-eval exists (scripts/setup-eval), pysbd and blingfire (and the other offline
baselines) are timed on the same corpus in a worker process of this same run, and our speed is
printed as a ratio to theirs. Peak RSS is the process high-water mark (`ru_maxrss`).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EVAL_PY = ROOT / ".venv-eval" / "bin" / "python"
SAMPLES = ROOT / "corpus" / "samples" / "articles.jsonl"


def pin_one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def generate_corpus(n: int, seed: int) -> tuple[list[str], str]:
    """`n` article texts and a note saying where they came from."""
    try:
        from benchmarks.synth import generate_articles
    except ImportError:
        pass
    else:
        texts = [a["text"] for a in generate_articles(n, seed=seed)]
        return texts, "benchmarks.synth.generate_articles"
    rng = random.Random(seed)
    samples = [
        json.loads(line)["text"] for line in SAMPLES.read_text(encoding="utf-8").splitlines()
    ]
    texts = []
    for _ in range(n):
        paragraphs = rng.choice(samples).split("\n")
        head, body = paragraphs[0], [p for p in paragraphs[1:] if p.strip()]
        rng.shuffle(body)
        texts.append("\n".join([head, "", *body]))
    return texts, f"paragraphs of {SAMPLES.relative_to(ROOT)} reshuffled"


def time_splitter(fn: Callable[[str], object], texts: list[str], seconds: float) -> dict:
    """Characters per CPU second over passes of the corpus (a slow splitter may stop part way).

    CPU time of this process, not wall time: the machine may be shared, and one process on one
    pinned core is exactly what "per core" means.
    """
    chars = docs = 0
    cpu0 = time.process_time()
    deadline = time.perf_counter() + seconds
    done = False
    while not done:
        for t in texts:
            fn(t)
            chars += len(t)
            docs += 1
            if docs % 32 == 0 and time.perf_counter() > deadline:
                done = True
                break
        else:
            done = time.perf_counter() > deadline
    cpu = time.process_time() - cpu0
    return {"chars_per_s": chars / cpu, "chars": chars, "cpu_seconds": cpu}


def baselines() -> dict[str, Callable[[str], object]]:
    """The offline splitters installed in .venv-eval (run inside the worker)."""
    out: dict[str, Callable[[str], object]] = {}
    import blingfire
    import pysbd

    seg = pysbd.Segmenter(language="ar", clean=False)
    out["pysbd ar"] = seg.segment
    out["blingfire"] = blingfire.text_to_sentences
    try:
        from sentencex import segment as sx

        out["sentencex ar"] = lambda t: list(sx("ar", t))
        import spacy

        nlp = spacy.blank("xx")
        nlp.add_pipe("sentencizer")
        out["spaCy xx sentencizer"] = lambda t: list(nlp(t).sents)
    except ImportError:
        pass
    return out


def worker(corpus: Path, seconds: float) -> None:
    """Inside .venv-eval: time each baseline on the corpus, print JSON."""
    pin_one_core()
    texts = json.loads(corpus.read_text(encoding="utf-8"))
    results = {name: time_splitter(fn, texts, seconds) for name, fn in baselines().items()}
    print(json.dumps(results))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--articles", type=int, default=5000, help="corpus size (default 5000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--seconds", type=float, default=3.0, help="timing budget per splitter")
    ap.add_argument("--no-baselines", action="store_true", help="skip the .venv-eval worker")
    ap.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.seconds)
        return

    sys.path.insert(0, str(ROOT))
    import pyarrow as pa

    from corpus.segment.spans import segment_batch, sentence_spans

    pin_one_core()
    rss_start = peak_rss_mb()
    texts, origin = generate_corpus(args.articles, args.seed)
    n_chars = sum(map(len, texts))
    rss_corpus = peak_rss_mb()
    n_sentences = sum(len(sentence_spans(t)) for t in texts)  # warm-up pass, and the count
    ours = time_splitter(sentence_spans, texts, args.seconds)
    rss_spans = peak_rss_mb()

    # The stage function as `corpus segment` runs it: batches of 512 articles to Arrow rows.
    table = pa.table({"article_id": [f"a{i}" for i in range(len(texts))], "text": texts})
    cpu0 = time.process_time()
    for off in range(0, table.num_rows, 512):
        segment_batch(table.slice(off, 512))
    stage_cps = n_chars / (time.process_time() - cpu0)

    print(f"corpus: {len(texts):,} articles, {n_chars / 1e6:.1f} M characters ({origin})")
    print(f"        {n_sentences:,} sentences, {n_chars / max(n_sentences, 1):.0f} chars each")
    print(f"python {sys.version.split()[0]}, one pinned CPU, characters per CPU second\n")
    rows = [("sentence_spans (ours)", ours["chars_per_s"])]
    rows.append(("segment_batch (ours, ids + Arrow rows)", stage_cps))

    if not args.no_baselines and EVAL_PY.exists():
        with tempfile.TemporaryDirectory() as tmp:
            corpus_file = Path(tmp) / "corpus.json"
            corpus_file.write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
            cmd = [str(EVAL_PY), __file__, "--worker", str(corpus_file)]
            done = subprocess.run(
                [*cmd, "--seconds", str(args.seconds)], capture_output=True, text=True, check=False
            )
        if done.returncode == 0:
            for name, r in json.loads(done.stdout).items():
                rows.append((name, r["chars_per_s"]))
        else:
            print(f"baseline worker failed:\n{done.stderr[-2000:]}", file=sys.stderr)
    elif not args.no_baselines:
        print("(.venv-eval not found: run scripts/setup-eval for the baseline comparison)\n")

    by_name = dict(rows)
    print("| splitter | chars/s | ours is |")
    print("| --- | --- | --- |")
    for name, cps in rows:
        ratio = (
            ""
            if name.startswith(("sentence_spans", "segment_batch"))
            else (f"{ours['chars_per_s'] / cps:.1f}x")
        )
        print(f"| {name} | {cps / 1e6:.2f} M | {ratio} |")
    for ref in ("pysbd ar", "blingfire"):
        if ref in by_name:
            print(f"sentence_spans / {ref}: {ours['chars_per_s'] / by_name[ref]:.1f}x")
    target = 10e6
    verdict = "meets" if ours["chars_per_s"] >= target else "MISSES"
    print(f"target >= 10 M chars/s on one core: {verdict} ({ours['chars_per_s'] / 1e6:.1f} M)")
    print(
        f"peak RSS: {rss_spans:.0f} MB (interpreter and imports {rss_start:.0f} MB, "
        f"+ corpus in memory {rss_corpus - rss_start:.0f} MB, "
        f"+ segmenting {rss_spans - rss_corpus:.0f} MB)"
    )


if __name__ == "__main__":
    main()
