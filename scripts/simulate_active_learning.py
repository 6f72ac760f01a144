"""Does choosing by uncertainty pay? A simulated annotation run on ANERcorp.

The gold labels stand in for annotators. Both runs start from the same 200 sentences of the
training part (the dev fifth of scripts/eval_train.py is held out) and add 200 per round: chosen
by `uncertain` (what `corpus project push --select uncertain` sends: the sentences whose least
certain token has the smallest CRF margin) or by `random` (a seeded hash order). Each round trains
the default CRF on what has been "annotated" so far and scores exact-span F1 on the dev part.

Prints F1 per round for both side by side, the words annotated (uncertain picks can be longer
sentences), and the first round where `uncertain` reaches random's final F1.

Run: .venv/bin/python scripts/simulate_active_learning.py [--rounds 10] [--step 200] [--start 200]
The two runs are independent and deterministic, so they may run as two processes and be printed
together: `--strategies random --save r.json`, `--strategies uncertain --save u.json`, then
`--load r.json u.json`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from eval_train import LABELS, default_data, load  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", type=Path, default=default_data())
    ap.add_argument("--start", type=int, default=200)
    ap.add_argument("--step", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=10, help="rounds after the start")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--strategies", default="random,uncertain")
    ap.add_argument("--save", type=Path, help="write the curves as JSON to this file")
    ap.add_argument("--load", type=Path, nargs="+", help="print curves saved by --save")
    args = ap.parse_args(argv)
    if args.load:
        curves = {}
        for f in args.load:
            curves.update(json.loads(f.read_text(encoding="utf-8")))
        return report(curves, args.json)

    from corpus.ontology import default_ontology_path, load_ontology
    from corpus.train import evaluate, train_model
    from corpus.train.select import rank

    ontology = load_ontology(default_ontology_path())
    pool, dev = load(args.data)
    ids = [ex.id for ex in pool]
    texts = [ex.text for ex in pool]
    start = list(rank("random", ids, texts, seed=args.seed)[0][: args.start])
    print(
        f"pool {len(pool)} sentences, dev {len(dev)}; start {args.start}, +{args.step} per round, "
        f"{args.rounds} rounds"
    )
    curves: dict[str, list[dict]] = {}
    for strategy in args.strategies.split(","):
        chosen = list(start)
        curve = []
        for r in range(args.rounds + 1):
            t = time.perf_counter()
            model = train_model([pool[i] for i in chosen], ontology)
            f1 = evaluate(model, dev, LABELS)["micro"]["f1"]
            words = sum(len(pool[i].text.split()) for i in chosen)
            curve.append({"sentences": len(chosen), "words": words, "f1": f1})
            print(
                f"  {strategy:9} round {r:2}: {len(chosen):5} sentences {words:6} words "
                f"F1 {f1:.3f} ({time.perf_counter() - t:.0f} s)",
                flush=True,
            )
            if r == args.rounds:
                break
            taken = set(chosen)
            rest = [i for i in range(len(pool)) if i not in taken]
            sub_ids = [ids[i] for i in rest]
            sub_texts = [texts[i] for i in rest]
            order, _ = rank(strategy, sub_ids, sub_texts, model=model, seed=args.seed + r + 1)
            chosen += [rest[k] for k in order[: args.step]]
        curves[strategy] = curve
    if args.save:
        args.save.write_text(json.dumps(curves, indent=2), encoding="utf-8")
    if set(curves) >= {"random", "uncertain"}:
        return report(curves, args.json)
    return 0


def report(curves: dict[str, list[dict]], as_json: bool) -> int:
    print(f"\n{'sentences':>9}  {'random F1':>9}  {'uncertain F1':>12}  {'words r/u':>15}")
    for a, b in zip(curves["random"], curves["uncertain"], strict=True):
        print(
            f"{a['sentences']:9}  {a['f1']:9.3f}  {b['f1']:12.3f}  {a['words']:7}/{b['words']:<7}"
        )
    final = curves["random"][-1]
    reach = next((p for p in curves["uncertain"] if p["f1"] >= final["f1"]), None)
    if reach:
        print(
            f"\nrandom's final F1 {final['f1']:.3f} needs {final['sentences']} sentences "
            f"({final['words']} words); uncertain reaches it with {reach['sentences']} sentences "
            f"({reach['words']} words)."
        )
    else:
        print(f"\nuncertain never reached random's final F1 {final['f1']:.3f}.")
    if as_json:
        print(json.dumps(curves, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
