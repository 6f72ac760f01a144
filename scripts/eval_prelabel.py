"""Evaluate a pre-labeler on tests/data/prelabel_eval.jsonl: precision, recall and F1 per type.

A predicted span is correct when its start, end and label equal a gold span's (exact match; a
trigger must have the right event type). "overlap" counts a prediction as correct when it overlaps
a gold span of the same label.

Splits: "dev" and "test" were written before the lexicon, but the lexicon was written by the same
person with them in mind (optimistic); "heldout" was written after the lexicon was frozen and is
never used for tuning: it is the honest estimate.

Run: scripts/eval_prelabel [--split dev|test|heldout|all] [--errors]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from corpus.prelabel import get_prelabeler  # noqa: E402

DEFAULT_DATA = ROOT / "tests" / "data" / "prelabel_eval.jsonl"


def load(path: Path, split: str) -> list[dict]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        r = json.loads(line)
        for g in r["triggers"] + r["entities"]:
            if r["text"][g["start"] : g["end"]] != g["text"]:
                raise SystemExit(f"{path}:{n}: gold span {g} does not match the text")
        if split in ("all", r["split"]):
            rows.append(r)
    return rows


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def evaluate(rows: list[dict], prelabeler, show_errors: bool = False) -> dict:
    """Counts per (kind, label) for exact and overlap matching."""
    counts = {m: {k: Counter() for k in ("tp", "fp", "fn")} for m in ("exact", "overlap")}
    preds = prelabeler.predict_batch([r["text"] for r in rows])
    for r, spans in zip(rows, preds, strict=True):
        gold = {("trigger", g["start"], g["end"], g["label"]) for g in r["triggers"]}
        gold |= {("entity", g["start"], g["end"], g["label"]) for g in r["entities"]}
        pred = {(s.kind, s.start, s.end, s.label) for s in spans}
        for kind, s, e, label in pred:
            key = (kind, label)
            counts["exact"]["tp" if (kind, s, e, label) in gold else "fp"][key] += 1
            hit = any(g[0] == kind and g[3] == label and g[1] < e and s < g[2] for g in gold)
            counts["overlap"]["tp" if hit else "fp"][key] += 1
        for kind, s, e, label in gold:
            key = (kind, label)
            if (kind, s, e, label) not in pred:
                counts["exact"]["fn"][key] += 1
            if not any(p[0] == kind and p[3] == label and p[1] < e and s < p[2] for p in pred):
                counts["overlap"]["fn"][key] += 1
        if show_errors and pred != gold:
            text = r["text"]
            print(f"\n{r['id']} [{r['split']}] {text}")
            for _kind, s, e, label in sorted(gold - pred, key=lambda x: x[1]):
                print(f"   missed  {label:24} {text[s:e]!r}")
            for _kind, s, e, label in sorted(pred - gold, key=lambda x: x[1]):
                print(f"   wrong   {label:24} {text[s:e]!r}")
    return counts


def report(counts: dict, title: str) -> dict:
    ex, ov = counts["exact"], counts["overlap"]
    labels = sorted({k for c in ex.values() for k in c})
    print(f"\n{title}")
    print(
        f"{'kind':8} {'label':24} {'gold':>5} {'pred':>5}   {'P':>5} {'R':>5} {'F1':>5}   overlap-F1"
    )
    summary = {}
    for kind in ("trigger", "entity"):
        tot = Counter()
        tot_ov = Counter()
        for k in [lb for lb in labels if lb[0] == kind]:
            tp, fp, fn = ex["tp"][k], ex["fp"][k], ex["fn"][k]
            tot.update(tp=tp, fp=fp, fn=fn)
            tot_ov.update(tp=ov["tp"][k], fp=ov["fp"][k], fn=ov["fn"][k])
            p, r, f = prf(tp, fp, fn)
            fo = prf(ov["tp"][k], ov["fp"][k], ov["fn"][k])[2]
            print(
                f"{kind:8} {k[1]:24} {tp + fn:5} {tp + fp:5}   {p:5.2f} {r:5.2f} {f:5.2f}   {fo:5.2f}"
            )
        p, r, f = prf(tot["tp"], tot["fp"], tot["fn"])
        fo = prf(tot_ov["tp"], tot_ov["fp"], tot_ov["fn"])[2]
        g, pr = tot["tp"] + tot["fn"], tot["tp"] + tot["fp"]
        print(f"{kind:8} {'ALL (micro)':24} {g:5} {pr:5}   {p:5.2f} {r:5.2f} {f:5.2f}   {fo:5.2f}")
        summary[kind] = {"precision": p, "recall": r, "f1": f, "overlap_f1": fo}
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--split", choices=("dev", "test", "heldout", "all"), default="all")
    ap.add_argument("--prelabeler", default="lexicon", help='"lexicon", "camel" or "hf:PATH"')
    ap.add_argument("--errors", action="store_true", help="print missed and wrong spans")
    ap.add_argument("--json", action="store_true", help="print the summary as JSON at the end")
    args = ap.parse_args(argv)

    prelabeler = get_prelabeler(args.prelabeler)
    splits = ["dev", "test", "heldout", "all"] if args.split == "all" else [args.split]
    summary = {}
    for split in splits:
        rows = load(args.data, split)
        t = time.perf_counter()
        counts = evaluate(rows, prelabeler, show_errors=args.errors and split == splits[-1])
        dt = time.perf_counter() - t
        title = (
            f"== {prelabeler.name} {prelabeler.version} on {args.data.name} split={split}: "
            f"{len(rows)} sentences ({dt:.2f} s)"
        )
        summary[split] = report(counts, title)
    if args.json:
        print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
