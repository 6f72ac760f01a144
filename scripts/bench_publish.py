#!/usr/bin/env python3
"""Wall time and peak memory of `corpus publish` on 1,000,000 generated annotated sentences.

Run with the project environment:
    .venv/bin/python scripts/bench_publish.py [--sentences N] [--workers 0 1 2] [--baseline]

Builds a throw-away workspace (or reuses `--workspace DIR` from an earlier run): articles from
`benchmarks.synth.generate_articles` (~1.7 K characters, ~17 sentences each), sentences from
`corpus.segment.spans.segment_batch`, and one pulled annotation per sentence with 1-3 entities, a
trigger with arguments on 70% of sentences, ~2% of sentences annotated twice (so adjudication has
work), plus 2% more sentences only skipped or marked noise (not published). Generation is not
timed.

Then `publish` runs once per `--workers` value (default: in-process, 1 worker, 2 workers), each in
a fresh child process timed from the outside, and the runs are printed side by side. Peak memory
is the whole process tree's (the publish process and its pool workers), sampled every 0.1 s: the
sum of PSS (pages shared with forked workers counted once; the target applies to it), with the
summed RSS and each process's own high-water mark (`ru_maxrss`) beside it. Each release is
removed after its run (the next would otherwise diff against it), after checking that every run
wrote the same data files.

Target (issue 8): under 60 s and under 2 GB peak memory for 1,000,000 sentence rows.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 60.0
TARGET_RSS_MB = 2048.0


def build_workspace(root: Path, n_sentences: int, seed: int) -> dict:
    """A workspace where exactly `n_sentences` sentences are publishable, plus 2% more that are
    only skipped or marked noise (left out of the release)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from benchmarks.synth import generate_articles
    from corpus.ids import content_id
    from corpus.ontology import load_ontology
    from corpus.schemas import ANNOTATIONS, ARGUMENT, ARTICLES, ENTITY, SENTENCES, TRIGGER
    from corpus.segment.spans import segment_batch
    from corpus.workspace import Workspace

    ws = Workspace.init(root)
    n_total = n_sentences + n_sentences // 50
    onto = load_ontology(ws.ontology_path)
    t0 = time.perf_counter()

    # Articles and their sentences, until there are enough sentences.
    art_writer = pq.ParquetWriter(ws.articles_path, ARTICLES, compression="zstd")
    sent_writer = pq.ParquetWriter(ws.sentences_path, SENTENCES, compression="zstd")
    sentences: list[pa.Table] = []
    have = 0
    batch: list[dict] = []
    for art in generate_articles(10**9, seed=seed, with_meta=True):
        batch.append(
            {
                "article_id": art["id"],
                "source": "synth",
                "source_id": art["id"],
                "title": art["title"],
                "text": art["text"],
                "url": art["url"],
                "published_at": art["published_at"],
                "dup_group": art["reprint_of"] or art["id"],
                "content_hash": content_id(art["text"]),
                "arabic_ratio": 0.9,
            }
        )
        if len(batch) == 1000:
            t = pa.Table.from_pylist(batch, schema=ARTICLES)
            s = segment_batch(t)
            art_writer.write_table(t)
            sent_writer.write_table(s)
            sentences.append(s.select(["sentence_id", "article_id", "text"]))
            have += s.num_rows
            batch = []
            print(f"\r  generated {have:,} sentences", end="", file=sys.stderr)
            if have >= n_total:
                break
    art_writer.close()
    sent_writer.close()
    print(file=sys.stderr)
    sents = pa.concat_tables(sentences).slice(0, n_total)
    t_gen = time.perf_counter() - t0

    # One annotation per sentence (+2% second annotations), written in chunks.
    rng = random.Random(seed)
    ents_types = onto.entity_types
    ev_types = list(onto.event_types)
    annotators = [f"ann-{i:012x}" for i in range(1, 9)]
    base = datetime(2025, 1, 1, tzinfo=UTC)
    writer = pq.ParquetWriter(ws.annotations_path, ANNOTATIONS, compression="zstd")
    next_id = 1
    chunk = 100_000
    for lo in range(0, n_total, chunk):
        part = sents.slice(lo, chunk)
        ids = part["sentence_id"].to_pylist()
        arts = part["article_id"].to_pylist()
        texts = part["text"].to_pylist()
        rows_idx = list(range(len(ids))) + [i for i in range(len(ids)) if rng.random() < 0.02]
        cols: dict[str, list] = {
            k: [] for k in ("ent", "trig", "arg", "choice", "cancel", "who", "when", "raw")
        }
        for n, i in enumerate(rows_idx):
            text = texts[i]
            ents, trigs, args = [], [], []
            n_ents = rng.randint(1, 3)
            for k in range(n_ents):
                # one entity per part of the sentence, so spans rarely overlap (as in real work)
                part_lo = len(text) * k // n_ents
                part_hi = max(len(text) * (k + 1) // n_ents, part_lo + 1)
                a = text.find(" ", rng.randrange(part_lo, part_hi)) + 1 if len(text) > 2 else 0
                b = text.find(" ", a)
                b = len(text) if b < 0 else b
                if b <= a:
                    continue
                ents.append(
                    {
                        "id": f"e{k}",
                        "start": a,
                        "end": b,
                        "label": rng.choice(ents_types),
                        "text": text[a:b],
                    }
                )
            if rng.random() < 0.7:
                a = text.find(" ", rng.randrange(len(text))) + 1 if len(text) > 2 else 0
                b = text.find(" ", a)
                b = len(text) if b < 0 else b
                if b > a:
                    et = rng.choice(ev_types)
                    trigs.append(
                        {"id": "t0", "start": a, "end": b, "event_type": et, "text": text[a:b]}
                    )
                    roles = onto.event_types[et]
                    for e in ents[: rng.randint(0, 2)]:
                        args.append(
                            {"trigger_id": "t0", "entity_id": e["id"], "role": rng.choice(roles)}
                        )
            left_out = lo + i >= n_sentences  # the extra 2%: half skipped, half noise
            cancel = left_out and (lo + i) % 2 == 0
            choice = (
                None
                if cancel
                else ("noise" if left_out else ("has-event" if trigs else "no-event"))
            )
            cols["ent"].append(ents)
            cols["trig"].append(trigs)
            cols["arg"].append(args)
            cols["choice"].append(choice)
            cols["cancel"].append(cancel)
            cols["who"].append(annotators[(i + (n >= len(ids))) % len(annotators)])
            cols["when"].append(base + timedelta(seconds=lo + n))
            cols["raw"].append(
                json.dumps([{"type": "labels", "value": e} for e in ents], ensure_ascii=False)
            )
        idx = pa.array(rows_idx, pa.int64())
        n_rows = len(rows_idx)
        table = pa.table(
            {
                "annotation_id": pa.array(np.arange(next_id, next_id + n_rows), pa.int64()),
                "task_id": pa.array(np.arange(lo, lo + len(ids))[rows_idx] + 1, pa.int64()),
                "project_id": pa.array(np.ones(n_rows, dtype=np.int64)),
                "sentence_id": part["sentence_id"].take(idx),
                "article_id": part["article_id"].take(idx),
                "annotator": pa.array(cols["who"]),
                "created_at": pa.array(cols["when"], pa.timestamp("us", tz="UTC")),
                "updated_at": pa.array(cols["when"], pa.timestamp("us", tz="UTC")),
                "lead_time": pa.array(np.full(n_rows, 20.0)),
                "cancelled": pa.array(cols["cancel"]),
                "prediction_id": pa.nulls(n_rows, pa.int64()),
                "prediction_model_version": pa.array(["lexicon-1"] * n_rows),
                "sentence_text": part["text"].take(idx),
                "entities": pa.array(cols["ent"], pa.list_(ENTITY)),
                "triggers": pa.array(cols["trig"], pa.list_(TRIGGER)),
                "arguments": pa.array(cols["arg"], pa.list_(ARGUMENT)),
                "choice": pa.array(cols["choice"], pa.string()),
                "raw_result": pa.array(cols["raw"]),
            },
            schema=ANNOTATIONS,
        )
        writer.write_table(table)
        next_id += n_rows
        del arts
        print(f"\r  annotated {lo + len(ids):,} sentences", end="", file=sys.stderr)
    writer.close()
    print(file=sys.stderr)
    return {
        "generate_seconds": round(t_gen, 1),
        "total_seconds": round(time.perf_counter() - t0, 1),
    }


def child(root: Path, version: str, baseline: bool, workers: int) -> None:
    """Inside the child process: publish and print the report as JSON (`workers` 0: in-process)."""
    sys.path.insert(0, str(ROOT))
    from corpus.publish.build import publish
    from corpus.runner import Engine
    from corpus.workspace import Workspace

    ws = Workspace.load(root)
    t = time.perf_counter()
    steps: list[list] = []
    current = ["reading the ontology", t, time.process_time()]

    def on_step(msg: str) -> None:  # each step's time runs until the next step starts
        now, cpu = time.perf_counter(), time.process_time()
        name = current[0].split(":")[0]  # "writing train (N sentences): k built" is one step
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if steps and steps[-1][0] == name:
            steps[-1][1] += now - current[1]
            steps[-1][2] += cpu - current[2]
            steps[-1][3] = peak
        else:
            steps.append([name, now - current[1], cpu - current[2], peak])
        current[:] = [msg, now, cpu]

    engine = Engine(workers=workers) if workers else None
    rep = publish(ws, version, "benchmark", baseline=baseline, on_step=on_step, engine=engine)
    on_step("")
    workers_usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(
        json.dumps(
            {
                "seconds_inside": round(time.perf_counter() - t, 2),
                "rows": rep.rows,
                "alignment": rep.alignment,
                "steps": [(m, round(w, 1), round(c, 1), round(p)) for m, w, c, p in steps],
                "driver_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "worker_rss_mb": workers_usage.ru_maxrss / 1024,
                "worker_cpu": workers_usage.ru_utime + workers_usage.ru_stime,
            }
        )
    )


class TreeMemory:
    """Peak memory of a process and all its descendants, sampled every `every` seconds: the sum
    of their PSS (shared pages, e.g. what forked workers inherit, counted once) and of their
    RSS (shared pages counted in every process)."""

    def __init__(self, pid: int, every: float = 0.1) -> None:
        import threading

        self.pid, self.every = pid, every
        self.peak_pss = self.peak_rss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._stop.is_set():
            pss = rss = 0
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            for p in procs:
                try:
                    m = p.memory_full_info()
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                pss += m.pss
                rss += m.rss
            self.peak_pss = max(self.peak_pss, pss)
            self.peak_rss = max(self.peak_rss, rss)
            self._stop.wait(self.every)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def run_publish(root: Path, workers: int, baseline: bool) -> dict:
    """One publish in a fresh child process; its release is compared, then removed."""
    import hashlib

    from corpus.publish.manifest import make_writable

    version = f"0.0.{int(time.time() * 1000)}"
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", str(root), version, str(workers)]
        + (["--baseline"] if baseline else []),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    memory = TreeMemory(proc.pid)
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    memory.stop()
    if proc.returncode != 0:
        sys.stderr.write(err)
        raise SystemExit(f"publish failed (exit {proc.returncode})")
    rep = json.loads(out.strip().splitlines()[-1])
    rel = root / "releases" / version
    rep["wall"] = wall
    rep["tree_pss_mb"] = memory.peak_pss / 2**20
    rep["tree_rss_mb"] = memory.peak_rss / 2**20
    rep["size"] = sum(p.stat().st_size for p in rel.rglob("*") if p.is_file())
    rep["data_sha256"] = hashlib.sha256(
        b"".join(hashlib.sha256(p.read_bytes()).digest() for p in sorted(rel.rglob("*.parquet")))
    ).hexdigest()
    # Removed at once: the next run must not find a previous version (it would diff against it).
    make_writable(rel)
    shutil.rmtree(rel)
    return rep


def label(workers: int) -> str:
    return "in-process" if workers == 0 else f"{workers} worker{'s' if workers > 1 else ''}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sentences", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workspace", type=Path, help="reuse (or keep) this benchmark workspace")
    ap.add_argument(
        "--baseline",
        action="store_true",
        help="also train and score the baseline model (a fixed-size sample: its time does not "
        "grow with the corpus; the 60 s target is for the release itself, without it)",
    )
    ap.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[0, 1, 2],
        help="runs side by side: 0 builds the rows in the publish process (no pool), N on a "
        "pool of N workers (default: 0 1 2)",
    )
    ap.add_argument("--child", nargs=3, metavar=("WS", "VERSION", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(Path(args.child[0]), args.child[1], args.baseline, int(args.child[2]))
        return

    sys.path.insert(0, str(ROOT))
    tmp = None
    root = args.workspace
    if root is None:
        tmp = Path(tempfile.mkdtemp(prefix="bench-publish-"))
        root = tmp / "ws"
    try:
        if not (root / "data" / "annotations.parquet").exists():
            print(
                f"building a workspace with {args.sentences:,} annotated sentences in {root}",
                file=sys.stderr,
            )
            gen = build_workspace(root, args.sentences, args.seed)
            print(
                f"  generated in {gen['total_seconds']} s (not part of the timing)", file=sys.stderr
            )
        reps = {}
        for w in args.workers:
            print(f"  publishing ({label(w)}) ...", file=sys.stderr)
            reps[w] = run_publish(root, w, args.baseline)
        first = reps[args.workers[0]]
        rows = sum(first["rows"]["sentences"].values())
        cols = args.workers
        width = 14

        def line(name: str, values: list[str], note: str = "") -> None:
            print(f"  {name:32s}" + "".join(f"{v:>{width}}" for v in values) + note)

        print(
            f"corpus publish: {rows:,} sentence rows (+ tokens, events and documents configs, "
            f"report; baseline {'on' if args.baseline else 'off'}; {os.cpu_count()} cores)"
        )
        line("", [label(w) for w in cols])
        line(
            "wall time (s)",
            [f"{reps[w]['wall']:.1f}" for w in cols],
            f"   target < {TARGET_SECONDS:.0f} s",
        )
        line("rows/s", [f"{rows / reps[w]['wall']:,.0f}" for w in cols])
        line(
            "peak memory, process tree (MB)",
            [f"{reps[w]['tree_pss_mb']:.0f}" for w in cols],
            f"   PSS summed; target < {TARGET_RSS_MB:.0f} MB",
        )
        line(
            "  RSS summed (MB)",
            [f"{reps[w]['tree_rss_mb']:.0f}" for w in cols],
            "   shared pages counted per process",
        )
        line("  peak RSS publish process (MB)", [f"{reps[w]['driver_rss_mb']:.0f}" for w in cols])
        line(
            "  peak RSS largest worker (MB)",
            [f"{reps[w]['worker_rss_mb']:.0f}" if w else "-" for w in cols],
        )
        line(
            "CPU time (s)",
            [
                f"{reps[w]['worker_cpu'] + sum(c for _, _, c, _ in reps[w]['steps']):.1f}"
                for w in cols
            ],
            "   publish process + workers",
        )
        line("release size (MB)", [f"{reps[w]['size'] / 1e6:.1f}" for w in cols])
        same = len({reps[w]["data_sha256"] for w in cols}) == 1
        print(f"  data files identical across runs: {'yes' if same else 'NO'}")
        print("  steps (wall s / peak RSS of the publish process so far, MB):")
        names = [m for m, *_ in first["steps"]]
        for m in names:
            vals = []
            for w in cols:
                found = [s for s in reps[w]["steps"] if s[0] == m]
                vals.append(f"{found[0][1]:.1f} / {found[0][3]}" if found else "-")
            line(f"  {m[:30]}", vals)
        ok = all(
            reps[w]["wall"] < TARGET_SECONDS and reps[w]["tree_pss_mb"] < TARGET_RSS_MB
            for w in cols
        )
        print(f"  result        {'PASS' if ok and same else 'FAIL'}")
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
