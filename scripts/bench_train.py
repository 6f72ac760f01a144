"""Training time, prediction speed and size of the default (CRF) model, on one core.

- Training: 4,000 sentences of ANERcorp (../shared/data/ner/anercorp_train.jsonl; its 3,988
  sentences and the first 12 again), labels PERS=PER, LOC=GPE, ORG=ORG, MISC dropped, default
  parameters. Wall time and CPU time (what one free core would take). Target: under 2 minutes.
- Prediction: sentences per second (per CPU-second of the process, and per wall-clock second,
  which a busy shared machine lowers) of the trained model (CRF spans, with the lexicon features)
  and of the `model:NAME` pre-labeler (plus lexicon spans for the labels the model lacks), on
  synthetic news sentences (benchmarks.synth, ~100 characters, as scripts/bench_prelabel.py uses)
  and on ANERcorp's own sentences (~190 characters, 31 words). The word caches start empty.
  Target: at least 2,000 sentences/s.
- Size: bytes of the stored model files.

Run: .venv/bin/python scripts/bench_train.py [--sentences 4000] [--predict 20000]
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
sys.path.insert(0, str(ROOT / "scripts"))

from eval_train import LABEL_MAP, default_data  # noqa: E402


def speed(fn, texts) -> tuple[float, float]:
    """(sentences per wall-clock second, sentences per CPU second of this process): on a busy
    shared machine the CPU figure is what one free core would do."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn(texts)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return len(texts) / wall, len(texts) / cpu


def fresh(model):
    """A copy of a trained CRF model with empty caches."""
    from corpus.prelabel.lexicon import LexiconPrelabeler
    from corpus.train import TrainedModel
    from corpus.train.crf import CRFModel
    from corpus.train.features import Featurizer

    impl = CRFModel(model.impl.model_bytes, model.impl.labels)
    impl._featurizer = Featurizer(LexiconPrelabeler())
    card = {**model.card, "version": "bench"}
    return TrainedModel(model.backend, impl, model.ontology_hash, model.labels, card)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", type=Path, default=default_data())
    ap.add_argument("--sentences", type=int, default=4000)
    ap.add_argument("--predict", type=int, default=20_000)
    args = ap.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core

    from benchmarks.synth import generate_sentences
    from corpus.ontology import default_ontology_path, load_ontology
    from corpus.train import train_model
    from corpus.train.examples import parse_label_map, read_extra
    from corpus.train.prelabeler import ModelPrelabeler

    ontology = load_ontology(default_ontology_path())
    rep = read_extra(args.data, parse_label_map(LABEL_MAP))
    examples = [rep.examples[i % len(rep.examples)] for i in range(args.sentences)]
    words = sum(len(ex.text.split()) for ex in examples)

    wall, cpu = time.perf_counter(), time.process_time()
    model = train_model(examples, ontology)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    with tempfile.TemporaryDirectory() as tmp:
        files = model.impl.save(Path(tmp))
        size = sum((Path(tmp) / f).stat().st_size for f in files)
    print(
        f"train: {len(examples):,} sentences ({words:,} words): {wall:.1f} s wall, "
        f"{cpu:.1f} s CPU on one core (target < 120 s); model {size / 1e6:.2f} MB"
    )

    synth = list(generate_sentences(args.predict, seed=1))
    anercorp = [ex.text for ex in rep.examples]
    # Fresh copies of the model, so every word cache (featurizer, lexicon) starts empty.
    for name, texts in (("synthetic", synth), ("ANERcorp", anercorp)):
        chars = sum(map(len, texts)) / len(texts)
        crf = speed(fresh(model).predict_batch, texts)
        combined = speed(ModelPrelabeler(fresh(model), "bench").predict_batch, texts)
        print(
            f"predict {name}: {len(texts):,} sentences, {chars:.0f} characters on average: "
            f"model {crf[1]:,.0f} sentences per CPU-second ({crf[0]:,.0f}/s wall), "
            f"model:NAME pre-labeler {combined[1]:,.0f} per CPU-second ({combined[0]:,.0f}/s "
            f"wall) (target >= 2,000)"
        )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {rss:.0f} MB; load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
