"""Entities on real text: the trained CRF against the lexicon on a dev part of ANERcorp.

ANERcorp (../shared/data/ner/anercorp_train.jsonl, CC BY-SA, never copied into the repository)
is newswire annotated by people outside this project. It is read exactly as
`corpus train --extra FILE --label-map PERS=PER,LOC=GPE,ORG=ORG,MISC=` reads it.

- Dev part: the sentences whose `id` hashes into the first fifth (sha256 of the id, first 8 bytes
  as an integer, modulo 5 == 0; ~800 sentences), the same part scripts/eval_lexicon_anercorp.py
  scores the lexicon on. The model trains on the other four fifths.
- Scored in one run on the same dev part: the lexicon (its LOC counted as GPE, as ANERcorp has
  one location type), the CRF without the lexicon's features, the CRF with them (the default),
  and the `model:NAME` pre-labeler (the CRF plus the lexicon for labels it lacks, LOC as GPE).
- Exact-span match: start, end and label equal a gold span's. Micro F1 over PER, GPE, ORG.

Run: .venv/bin/python scripts/eval_train.py [--data FILE] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from corpus.types import Span  # noqa: E402

LABEL_MAP = "PERS=PER,LOC=GPE,ORG=ORG,MISC="
LABELS = ("PER", "GPE", "ORG")


def default_data() -> Path:
    for base in ROOT.parents:
        path = base / "shared" / "data" / "ner" / "anercorp_train.jsonl"
        if path.exists():
            return path
    return ROOT.parent / "shared" / "data" / "ner" / "anercorp_train.jsonl"


def dev_part(sentence_id: str) -> bool:
    """The held-out fifth (same rule as scripts/eval_lexicon_anercorp.py)."""
    digest = hashlib.sha256(sentence_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % 5 == 0


def load(path: Path):
    """(train, dev) examples of ANERcorp with the label map applied."""
    from corpus.train.examples import parse_label_map, read_extra

    rep = read_extra(path, parse_label_map(LABEL_MAP))
    if rep.skipped:
        raise SystemExit(f"{path}: {len(rep.skipped)} bad lines, e.g. {rep.skipped[0]}")
    train = [ex for ex in rep.examples if not dev_part(ex.id)]
    dev = [ex for ex in rep.examples if dev_part(ex.id)]
    return train, dev


class LocAsGpe:
    """A pre-labeler whose LOC spans count as GPE (ANERcorp has one location type)."""

    def __init__(self, inner):
        self.inner = inner

    def predict_batch(self, texts):
        return [
            [
                Span(s.start, s.end, "GPE" if s.label == "LOC" else s.label, s.kind, s.score)
                for s in spans
            ]
            for spans in self.inner.predict_batch(texts)
        ]


def row(name: str, scores: dict, seconds: float | None = None) -> str:
    per = scores["per_label"]
    cells = [f"{per[lb]['p']:.3f} {per[lb]['r']:.3f} {per[lb]['f1']:.3f}" for lb in LABELS]
    m = scores["micro"]
    t = f"{seconds:7.1f}" if seconds is not None else " " * 7
    return f"{name:34} " + "  ".join(cells) + f"  {m['p']:.3f} {m['r']:.3f} {m['f1']:.3f} {t}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", type=Path, default=default_data())
    ap.add_argument("--json", action="store_true", help="also print the scores as JSON")
    args = ap.parse_args(argv)

    from corpus.ontology import default_ontology_path, load_ontology
    from corpus.prelabel.lexicon import LexiconPrelabeler
    from corpus.train import TrainedModel, evaluate, train_model
    from corpus.train.prelabeler import ModelPrelabeler

    ontology = load_ontology(default_ontology_path())
    train, dev = load(args.data)
    gold = sum(1 for ex in dev for s in ex.spans)
    print(
        f"ANERcorp {args.data.name}: {len(train)} training sentences, {len(dev)} dev sentences "
        f"({gold} gold entities), label map {LABEL_MAP}"
    )
    results: dict[str, dict] = {}
    times: dict[str, float] = {}
    lexicon = LexiconPrelabeler()
    results["lexicon"] = evaluate(LocAsGpe(lexicon), dev, LABELS)
    for name, use_lexicon in (("crf (no lexicon features)", False), ("crf", True)):
        t = time.perf_counter()
        model = train_model(train, ontology, use_lexicon=use_lexicon)
        times[name] = time.perf_counter() - t
        results[name] = evaluate(model, dev, LABELS)
    assert isinstance(model, TrainedModel)
    model.card["version"] = "eval"
    combined = ModelPrelabeler(model, "eval", lexicon)
    results["model:NAME (crf + lexicon for the rest)"] = evaluate(LocAsGpe(combined), dev, LABELS)

    head = "  ".join(f"{lb + ' P R F1':20}" for lb in LABELS)
    print(f"\n{'dev part (exact spans)':34} {head}  {'micro P R F1':17} train s")
    for name, scores in results.items():
        print(row(name, scores, times.get(name)))
    if args.json:
        print(json.dumps({"train": len(train), "dev": len(dev), "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
