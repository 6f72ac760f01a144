"""Entity exact-span F1 of a pre-labeler on the dev part of ANERcorp's train file.

ANERcorp (../shared/data/ner/anercorp_train.jsonl, CC BY-SA, never copied into the repository)
is newswire annotated by people outside this project, so it measures the lexicon on real text
rather than on sentences written with the lexicon in mind.

- Dev part: the sentences whose `id` hashes into the first fifth (`dev_part(id)`: sha256 of the
  id, first 8 bytes as an integer, modulo 5 == 0; about 800 sentences). The rest is for training
  learned pre-labelers; never tune the lexicon against particular dev sentences.
- Labels: PERS -> PER, LOC -> GPE, ORG -> ORG, MISC dropped. The pre-labeler's GPE and LOC both
  count as GPE (ANERcorp has one location type); its other entity types and triggers are ignored.
- A prediction is correct when start, end and label equal a gold span's.

Run: .venv/bin/python scripts/eval_lexicon_anercorp.py [--data FILE] [--part dev|train|all]
     [--prelabeler lexicon] [--errors N]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from corpus.prelabel import get_prelabeler  # noqa: E402


def _default_data() -> Path:
    """../shared/data/ner/anercorp_train.jsonl beside the repository (or a worktree's parents)."""
    for base in ROOT.parents:
        path = base / "shared" / "data" / "ner" / "anercorp_train.jsonl"
        if path.exists():
            return path
    return ROOT.parent / "shared" / "data" / "ner" / "anercorp_train.jsonl"


DEFAULT_DATA = _default_data()
GOLD_MAP = {"PERS": "PER", "LOC": "GPE", "ORG": "ORG"}
PRED_MAP = {"PER": "PER", "GPE": "GPE", "LOC": "GPE", "ORG": "ORG"}


def dev_part(sentence_id: str) -> bool:
    """True for the held-out dev fifth (stable: a hash of the id, not the file order)."""
    digest = hashlib.sha256(sentence_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % 5 == 0


def load(path: Path, part: str) -> list[dict]:
    rows = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            if part == "all" or (part == "dev") == dev_part(r["id"]):
                rows.append(r)
    return rows


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--part", choices=("dev", "train", "all"), default="dev")
    ap.add_argument("--prelabeler", default="lexicon")
    ap.add_argument("--errors", type=int, default=0, help="print the first N sentences with errors")
    ap.add_argument("--json", action="store_true", help="print the summary as JSON at the end")
    args = ap.parse_args(argv)
    if not args.data.exists():
        print(f"error: {args.data} not found (give --data)", file=sys.stderr)
        return 2

    rows = load(args.data, args.part)
    pl = get_prelabeler(args.prelabeler)
    t = time.perf_counter()
    preds = pl.predict_batch([r["text"] for r in rows])
    dt = time.perf_counter() - t
    tp, fp, fn = Counter(), Counter(), Counter()
    shown = 0
    for r, spans in zip(rows, preds, strict=True):
        gold = {
            (g["start"], g["end"], GOLD_MAP[g["label"]])
            for g in r["entities"]
            if g["label"] in GOLD_MAP
        }
        pred = {
            (s.start, s.end, PRED_MAP[s.label])
            for s in spans
            if s.kind == "entity" and s.label in PRED_MAP
        }
        for x in pred:
            (tp if x in gold else fp)[x[2]] += 1
        for x in gold - pred:
            fn[x[2]] += 1
        if shown < args.errors and pred != gold:
            shown += 1
            text = r["text"]
            print(f"\n{r['id']} {text}")
            for s, e, lb in sorted(gold - pred):
                print(f"   missed {lb:4} {text[s:e]!r}")
            for s, e, lb in sorted(pred - gold):
                print(f"   wrong  {lb:4} {text[s:e]!r}")

    print(
        f"\n== {pl.name} {pl.version} on {args.data.name} part={args.part}: "
        f"{len(rows)} sentences ({dt:.2f} s)"
    )
    print(f"{'label':6} {'gold':>5} {'pred':>5}   {'P':>5} {'R':>5} {'F1':>5}")
    summary = {}
    for lb in ("PER", "GPE", "ORG", "ALL"):
        if lb == "ALL":
            a, b, c = sum(tp.values()), sum(fp.values()), sum(fn.values())
        else:
            a, b, c = tp[lb], fp[lb], fn[lb]
        p, rc, f = prf(a, b, c)
        summary[lb] = {"precision": p, "recall": rc, "f1": f, "gold": a + c, "pred": a + b}
        name = "micro" if lb == "ALL" else lb
        print(f"{name:6} {a + c:5} {a + b:5}   {p:5.3f} {rc:5.3f} {f:5.3f}")
    if args.json:
        print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
