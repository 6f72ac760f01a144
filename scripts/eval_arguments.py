"""Trigger and argument F1 of the argument pre-labels, rules against the learned model.

Data: tests/data/argument_eval.jsonl, sentences written for this evaluation with their triggers,
entities and arguments (`arguments: [[trigger index, entity index, role], ...]`, indexes into the
sentence's own `triggers` and `entities` lists). The conventions are the README's (Place and
Time go to every event of the clause they belong to; type words as in "Lexicon conventions").

Split by a hash of each sentence's id (sha256, first byte even: train; odd: test). The learned
model is trained on the train part (gold spans and arguments) and both predictors are scored
on the test part:
- triggers: exact span and event type;
- arguments: trigger span and type, role, and entity span and type must all match, scored
  twice: on gold spans (the argument step alone) and on a pre-labeler's predicted spans (what an
  annotator sees after `corpus prelabel`): the lexicon by default, or any `--prelabeler` (e.g. a
  trained `model:NAME` of the workspace given with `--workspace`).

Run: .venv/bin/python scripts/eval_arguments.py [--data FILE] [--split test|train|all]
     [--prelabeler SPEC [--workspace DIR]] [--errors]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from corpus.ontology import default_ontology_path, load_ontology  # noqa: E402
from corpus.prelabel import get_prelabeler  # noqa: E402
from corpus.prelabel.arguments import ArgumentExample, ArgumentModel, ArgumentRules  # noqa: E402

DEFAULT_DATA = ROOT / "tests" / "data" / "argument_eval.jsonl"


def part_of(sentence_id: str) -> str:
    return "train" if hashlib.sha256(sentence_id.encode()).digest()[0] % 2 == 0 else "test"


def load(path: Path) -> list[dict]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        r = json.loads(line)
        for g in r["triggers"] + r["entities"]:
            if r["text"][g["start"] : g["end"]] != g["text"]:
                raise SystemExit(f"{path}:{n}: span {g} does not match the text")
        rows.append(r)
    return rows


def gold_spans(r: dict) -> list[dict]:
    return [{**t, "kind": "trigger"} for t in r["triggers"]] + [
        {**e, "kind": "entity"} for e in r["entities"]
    ]


def gold_args(r: dict) -> set[tuple]:
    out = set()
    for ti, ei, role in r["arguments"]:
        t, e = r["triggers"][ti], r["entities"][ei]
        out.add((t["start"], t["end"], t["label"], role, e["start"], e["end"], e["label"]))
    return out


def predicted_args(spans: list[dict], args) -> set[tuple]:
    out = set()
    for a in args:
        t, e = spans[a.trigger], spans[a.entity]
        out.add((t["start"], t["end"], t["label"], a.role, e["start"], e["end"], e["label"]))
    return out


def example(r: dict) -> ArgumentExample:
    k = len(r["triggers"])
    return ArgumentExample(
        r["text"], gold_spans(r), [(t, k + e, role) for t, e, role in r["arguments"]]
    )


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    rc = tp / (tp + fn) if tp + fn else 0.0
    return p, rc, (2 * p * rc / (p + rc) if p + rc else 0.0)


def score(pairs) -> tuple[int, int, int]:
    tp = fp = fn = 0
    for gold, pred in pairs:
        tp += len(gold & pred)
        fp += len(pred - gold)
        fn += len(gold - pred)
    return tp, fp, fn


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--split", choices=("test", "train", "all"), default="test")
    ap.add_argument("--prelabeler", default="lexicon", help='spans to score on: "lexicon", ...')
    ap.add_argument("--workspace", type=Path, help="workspace of a model:NAME pre-labeler")
    ap.add_argument("--errors", action="store_true", help="print argument errors of the rules")
    ap.add_argument("--json", action="store_true", help="print the summary as JSON at the end")
    args = ap.parse_args(argv)

    onto = load_ontology(default_ontology_path())
    rows = load(args.data)
    train = [r for r in rows if part_of(r["id"]) == "train"]
    test = rows if args.split == "all" else [r for r in rows if part_of(r["id"]) == args.split]
    rules = ArgumentRules(onto)
    learned = ArgumentModel(onto).fit(example(r) for r in train)
    ws = None
    if args.workspace is not None:
        from corpus.workspace import Workspace

        ws = Workspace.load(args.workspace)
    lexicon = get_prelabeler(args.prelabeler, ws)

    trig_pairs = []
    results: dict[str, dict[str, list]] = {"rules": {}, "learned": {}}
    for name in results:
        results[name] = {"gold spans": [], "predicted spans": []}
    for r in test:
        gold = gold_args(r)
        spans_g = gold_spans(r)
        predicted = [
            {"start": s.start, "end": s.end, "label": s.label, "kind": s.kind}
            for s in lexicon.predict(r["text"])
        ]
        gold_t = {(t["start"], t["end"], t["label"]) for t in r["triggers"]}
        pred_t = {(s["start"], s["end"], s["label"]) for s in predicted if s["kind"] == "trigger"}
        trig_pairs.append((gold_t, pred_t))
        for name, model in (("rules", rules), ("learned", learned)):
            pg = predicted_args(spans_g, model.predict(r["text"], spans_g))
            pl = predicted_args(predicted, model.predict(r["text"], predicted))
            results[name]["gold spans"].append((gold, pg))
            results[name]["predicted spans"].append((gold, pl))
            if args.errors and name == "rules" and pg != gold:
                text = r["text"]
                print(f"\n{r['id']} {text}")
                for x in sorted(gold - pg):
                    print(f"   missed {text[x[0] : x[1]]} -{x[3]}-> {text[x[4] : x[5]]}")
                for x in sorted(pg - gold):
                    print(f"   wrong  {text[x[0] : x[1]]} -{x[3]}-> {text[x[4] : x[5]]}")

    n_args = sum(len(r["arguments"]) for r in test)
    print(
        f"\n== {args.data.name} split={args.split}: {len(test)} sentences, {n_args} gold "
        f"arguments; learned model trained on {len(train)} sentences "
        f"({sum(len(r['arguments']) for r in train)} arguments), {learned.version}"
    )
    p, rc, f = prf(*score(trig_pairs))
    n_t = sum(len(g) for g, _ in trig_pairs)
    print(f"spans from {lexicon.name} {lexicon.version}")
    print(f"triggers (span + type): {n_t} gold   P {p:.3f} R {rc:.3f} F1 {f:.3f}")
    print(
        f"\n{'arguments on':16} {'rules P':>8} {'R':>6} {'F1':>6}   {'learned P':>9} {'R':>6} {'F1':>6}"
    )
    summary = {"triggers": {"precision": p, "recall": rc, "f1": f}}
    for where in ("gold spans", "predicted spans"):
        line = f"{where:16}"
        for name in ("rules", "learned"):
            p, rc, f = prf(*score(results[name][where]))
            summary[f"{name} on {where}"] = {"precision": p, "recall": rc, "f1": f}
            width = 8 if name == "rules" else 9
            line += f" {p:{width}.3f} {rc:6.3f} {f:6.3f}  "
        print(line)
    if args.json:
        print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
