#!/usr/bin/env python
"""Benchmark near-duplicate detection: the scaled index (signatures on disk, LSH bands one at a
time, union-find) beside the old in-memory index, at each size given (default 100,000 and
1,000,000 articles).

1. N synthetic ~3 KB articles (benchmarks/synth.py, ~3% reprints), their MinHash signatures
   computed by the `signature_batch` map stage (both timed, ~0.3 ms an article in all on one
   core; cached in --work, so a second run starts at once).
2. With --scale M, also signature-level data beyond what is worth generating: the first size's
   real signatures repeated, each copy under its own bijection of slot values, so every copy
   keeps the real structure (reprints, template similarity) and copies share no band by more
   than chance.
3. Each index groups all rows as one ingest in a child process pinned to one core, reading the
   signatures batch by batch; the child reports its own peak RSS. With --incremental the scaled
   index also groups the last 10% as a later ingest against the first 90%; with --later M, M
   new rows onto the first 90% (the 90% stored by another child first, so the figures are
   the later ingest's alone).

Prints seconds, rows/s, peak RSS, reprints found and false links (articles of different
original stories in one group), per size and index.
Usage: .venv/bin/python scripts/bench_dedup.py [--articles N ...] [--scale M] [--no-baseline]
       [--baseline-max M] [--incremental] [--later M ...] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

TARGET_RSS_MB = 300.0
BATCH = 16_384


def generate(n: int, work: Path) -> tuple[Path, Path]:
    """Signatures and ground truth of n synthetic articles (cached)."""
    from benchmarks.synth import generate_articles
    from corpus.ingest.minhash import signature_batch

    sigs, truth = work / f"sigs-{n}.parquet", work / f"truth-{n}.parquet"
    if sigs.exists() and truth.exists():
        print(f"using cached signatures of {n:,} articles in {work}")
        return sigs, truth
    gen_s = sig_s = 0.0
    ids, originals, texts = [], [], []
    sig_writer = pq.ParquetWriter(sigs.with_suffix(".tmp"), signature_batch_schema())
    truth_rows: dict[str, list] = {"article_id": [], "original": []}
    t = time.process_time()
    for art in generate_articles(n, seed=7, with_meta=True):
        ids.append(art["id"])
        originals.append(art["reprint_of"] or art["id"])
        texts.append(art["text"])
        if len(ids) == 2000:
            gen_s += time.process_time() - t
            t = time.process_time()
            sig_writer.write_table(signature_batch(pa.table({"article_id": ids, "text": texts})))
            sig_s += time.process_time() - t
            t = time.process_time()
            truth_rows["article_id"] += ids
            truth_rows["original"] += originals
            ids, originals, texts = [], [], []
    if ids:
        sig_writer.write_table(signature_batch(pa.table({"article_id": ids, "text": texts})))
        truth_rows["article_id"] += ids
        truth_rows["original"] += originals
    sig_writer.close()
    sigs.with_suffix(".tmp").rename(sigs)
    pq.write_table(pa.table(truth_rows), truth)
    print(
        f"generated {n:,} articles in {gen_s:.0f} CPU s; signatures (map stage) in {sig_s:.0f} "
        f"CPU s = {n / sig_s:,.0f} articles/s"
    )
    return sigs, truth


def signature_batch_schema() -> pa.Schema:
    from corpus.ingest.minhash import NEW_SIGNATURES

    return NEW_SIGNATURES


def scale_up(base_sigs: Path, base_truth: Path, m: int, work: Path) -> tuple[Path, Path]:
    """m signature rows from the n real ones: copy c maps every slot value v to
    (v * a_c + b_c) mod 2^32 (a_c odd: a bijection), so equal slots stay equal within a copy."""
    sigs, truth = work / f"sigs-{m}-scaled.parquet", work / f"truth-{m}-scaled.parquet"
    if sigs.exists() and truth.exists():
        return sigs, truth
    from corpus.ingest.minhash import NEW_SIGNATURES, SIGNATURE, signature_matrix

    n = pq.ParquetFile(base_sigs).metadata.num_rows
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    base_truth_t = pq.read_table(base_truth)
    with pq.ParquetWriter(sigs.with_suffix(".tmp"), NEW_SIGNATURES) as w:
        with pq.ParquetWriter(truth.with_suffix(".tmp"), base_truth_t.schema) as tw:
            done, c = 0, 0
            while done < m:
                a = np.uint32(rng.integers(0, 2**31) * 2 + 1)
                b = np.uint32(rng.integers(0, 2**32))
                suffix = "" if c == 0 else f"~{c}"
                for batch in pq.ParquetFile(base_sigs).iter_batches(BATCH):
                    take = min(batch.num_rows, m - done)
                    if take <= 0:
                        break
                    batch = batch.slice(0, take)
                    s = signature_matrix(batch.column("signature"))
                    if c:
                        with np.errstate(over="ignore"):
                            s = s * a + b
                    col = pa.FixedSizeBinaryArray.from_buffers(
                        SIGNATURE, take, [None, pa.py_buffer(s.astype("<u4").tobytes())]
                    )
                    ids = pc.binary_join_element_wise(batch.column("article_id"), suffix, "")
                    w.write_table(pa.table([ids, col], schema=NEW_SIGNATURES))
                    tr = base_truth_t.slice(done % n, take)
                    tw.write_table(
                        pa.table(
                            {
                                "article_id": pc.binary_join_element_wise(
                                    tr.column("article_id"), suffix, ""
                                ),
                                "original": pc.binary_join_element_wise(
                                    tr.column("original"), suffix, ""
                                ),
                            }
                        )
                    )
                    done += take
                c += 1
    sigs.with_suffix(".tmp").rename(sigs)
    truth.with_suffix(".tmp").rename(truth)
    print(f"scaled to {m:,} signature rows in {time.perf_counter() - t0:.0f} s")
    return sigs, truth


# --- phases, each run in its own child process ---------------------------------------------------


def phase_scaled(sigs: Path, out: Path, work: Path, first: int | None, new: int | None) -> dict:
    """The scaled index: one ingest of all rows, or (first=k) rows k.. (all of them, or the
    `new` rows after k) against rows ..k, stored by an earlier child (phase "earlier")."""
    from corpus.ingest.dedup import NearDuplicateIndex

    root = work / "index" / "minhash"
    n = pq.ParquetFile(sigs).metadata.num_rows

    def ingest(lo: int, hi: int) -> tuple[dict[int, str], NearDuplicateIndex]:
        with NearDuplicateIndex(root) as index:
            pos = 0
            # Without pre-buffering: it would read ahead the whole file.
            for batch in pq.ParquetFile(sigs, pre_buffer=False).iter_batches(
                BATCH, use_threads=False
            ):
                a, b = max(lo, pos), min(hi, pos + batch.num_rows)
                if a < b:
                    index.add_signatures(pa.Table.from_batches([batch.slice(a - pos, b - a)]))
                pos += batch.num_rows
            groups = index.group()
            index.save(groups)
        return groups, index

    if new == 0:  # phase "earlier": store rows ..first
        t = time.process_time()
        ingest(0, first)
        return {"seconds": time.process_time() - t}
    last = min(n, first + new) if first and new else n
    t = time.process_time()
    groups, index = ingest(first or 0, last)
    seconds = time.process_time() - t
    # Streamed, so the copy for evaluation does not add to the peak.
    columns = ["article_id", "dup_group"]
    with pq.ParquetWriter(
        out, pa.schema([("article_id", pa.string()), ("dup_group", pa.string())])
    ) as w:
        for batch in index.store.iter_batches(columns):
            w.write_batch(pa.RecordBatch.from_arrays(batch.columns, names=columns))
    s = index.stats
    return {"seconds": seconds, "rows": last - (first or 0),
            "candidates": s.candidates, "confirmed": s.confirmed,
            "signatures_fetched": int(s.signatures_fetched),
            "peak_signature_rows": int(s.peak_signature_rows)}  # fmt: skip


def phase_baseline(sigs: Path, out: Path) -> dict:
    from benchmarks.dedup_baseline import InMemoryIndex
    from corpus.ingest.minhash import signature_matrix

    index = InMemoryIndex()
    ids_out, groups_out = [], []
    t = time.process_time()
    for batch in pq.ParquetFile(sigs).iter_batches(BATCH):
        ids = batch.column("article_id").to_pylist()
        for aid, hv in zip(ids, signature_matrix(batch.column("signature")), strict=True):
            groups_out.append(index.assign_signature(aid, hv))
        ids_out += ids
    seconds = time.process_time() - t
    pq.write_table(pa.table({"article_id": ids_out, "dup_group": groups_out}), out)
    return {"seconds": seconds, "rows": len(ids_out)}


def peak_rss_mb() -> float:
    """This process's peak RSS. Not ru_maxrss: Linux carries that over exec from the parent, so
    a child started by a parent that had grown would report the parent's peak."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(args: argparse.Namespace) -> None:
    if args.phase == "baseline":
        res = phase_baseline(args.sigs, args.out)
    elif args.phase == "earlier":
        res = phase_scaled(args.sigs, args.out, args.work, args.first, 0)
    else:
        res = phase_scaled(args.sigs, args.out, args.work, args.first, args.new)
    res["peak_mb"] = peak_rss_mb()
    print(json.dumps(res))


def run_child(
    phase: str, sigs: Path, work: Path, first: int | None = None, new: int | None = None
) -> dict:
    out = work / f"groups-{phase}.parquet"
    if phase == "scaled":  # a fresh index; a later ingest's earlier rows stored by a child first
        shutil.rmtree(work / "index", ignore_errors=True)
        (work / "index").mkdir(parents=True)
        if first:
            before = run_child("earlier", sigs, work, first)
            print(f"    (the earlier {first:,} rows stored in {before['seconds']:.1f} CPU s)")
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    cmd = ["taskset", "-c", "0", sys.executable, __file__, "--phase", phase, "--sigs", str(sigs),
           "--out", str(out), "--work", str(work)] + (["--first", str(first)] if first else []) + (
               ["--new", str(new)] if new else [])  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{phase} failed:\n{proc.stdout}\n{proc.stderr}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    if phase != "earlier":
        res.update(evaluate(out, truth_of(sigs)))
    return res


def truth_of(sigs: Path) -> Path:
    return sigs.with_name(sigs.name.replace("sigs-", "truth-"))


def evaluate(groups: Path, truth: Path) -> dict:
    """Reprints in their original's group, and false links: in each group, how many original
    stories beyond the first it holds."""
    g = pq.read_table(groups)
    t = pq.read_table(truth)
    group_of = dict(zip(g.column(0).to_pylist(), g.column(1).to_pylist(), strict=True))
    ids, originals = t.column(0).to_pylist(), t.column(1).to_pylist()
    found = reprints = 0
    stories: dict[str, set] = {}
    for aid, orig in zip(ids, originals, strict=True):
        if aid not in group_of:
            continue
        if orig != aid:
            reprints += 1
            found += group_of[aid] == group_of.get(orig)
        stories.setdefault(group_of[aid], set()).add(orig)
    false_links = sum(len(s) - 1 for s in stories.values())
    return {"reprints": reprints, "found": found, "false_links": false_links}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--articles", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--scale", type=int, default=0, help="signature-level rows beyond (0: off)")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--baseline-max", type=int, default=1_000_000, help="largest baseline run")
    ap.add_argument("--incremental", action="store_true")
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench-dedup"))
    ap.add_argument("--phase", choices=["scaled", "earlier", "baseline"], help=argparse.SUPPRESS)
    ap.add_argument("--sigs", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--first", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--new", type=int, help=argparse.SUPPRESS)
    ap.add_argument(
        "--later",
        type=int,
        nargs="*",
        default=[],
        help="also time a later ingest of this many new rows onto the first 90%% (e.g. 1000)",
    )
    args = ap.parse_args()
    if args.phase:
        return child(args)
    args.work.mkdir(parents=True, exist_ok=True)
    sizes = [generate(n, args.work) for n in args.articles]
    if args.scale > max(args.articles):
        sizes.append(scale_up(*sizes[0], args.scale, args.work))
    print("rows | index | ingest | CPU s | rows/s | peak RSS MB | reprints found | false links")
    for sigs, _ in sizes:
        n = pq.ParquetFile(sigs).metadata.num_rows
        runs = [("scaled", "all at once", None, None)]
        if args.incremental:
            runs.append(("scaled", "last 10% later", n - n // 10, None))
        for m in args.later:
            runs.append(("scaled", f"{m:,} later onto 90%", n - n // 10, m))
        if not args.no_baseline and n <= args.baseline_max:
            runs.append(("baseline", "all at once", None, None))
        for phase, label, first, new in runs:
            r = run_child(phase, sigs, args.work, first, new)
            name = "scaled (bands on disk)" if phase == "scaled" else "old in-memory LSH"
            mark = "" if phase == "baseline" or r["peak_mb"] < TARGET_RSS_MB else " (over 300)"
            print(
                f"{n:,} | {name} | {label} | {r['seconds']:.1f} | {r['rows'] / r['seconds']:,.0f} | "
                f"{r['peak_mb']:,.0f}{mark} | {r['found']:,}/{r['reprints']:,} | "
                f"{r['false_links']:,}",
                flush=True,
            )
            if phase == "scaled":
                print(
                    f"    candidates {r['candidates']:,}, confirmed {r['confirmed']:,}, signatures "
                    f"fetched {r['signatures_fetched']:,}, most held at once "
                    f"{r['peak_signature_rows']:,}"
                )


if __name__ == "__main__":
    main()
