#!/usr/bin/env python3
"""Train an event-trigger tagger on a published release with `transformers` (token classification).

    .venv/bin/python scripts/train_trigger_tagger.py releases/1.0.0 --model PATH --out DIR
        [--config events|tokens] [--epochs 3] [--batch-size 16] [--lr 5e-5] [--max-length 128]

A model team's starting point, kept short on purpose: it reads the release with
`datasets.load_dataset(RELEASE, CONFIG)`, turns each sentence into BIO trigger tags over the
release's tokens (the `tokens` config has them as `trigger_tags`; from the `events` config they
come from each event mention's token range), fine-tunes `AutoModelForTokenClassification` from
the local checkpoint `--model` (any folder saved with `save_pretrained`, with a fast tokenizer;
nothing is downloaded), scores exact trigger spans (type and token range) on the validation
split, prints the scores as JSON and saves the model and tokenizer to `--out`.

Word pieces: only the first piece of each token carries its label (the others are ignored by
the loss, -100), the usual recipe for word-level tags.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path


def bio_from_events(row: dict, event_types: list[str]) -> list[int]:
    """Trigger BIO tag ids (O, B-T, I-T in `event_types` order) from an events-config row."""
    tags = [0] * len(row["tokens"])
    for ev in sorted(row["event_mentions"], key=lambda e: e["trigger"]["start"]):
        a, b = ev["trigger"]["start"], ev["trigger"]["end"]
        if b <= a or any(tags[a:b]):
            continue  # a trigger on no token, or nested in an earlier one: not BIO-encodable
        k = event_types.index(ev["event_type"])
        tags[a] = 2 * k + 1
        for i in range(a + 1, b):
            tags[i] = 2 * k + 2
    return tags


def load_release(release: str, config: str, cache_dir: str | None = None):
    """(splits {name: [(tokens, tag ids)]}, tag names) from a release folder."""
    from datasets import load_dataset

    ds = load_dataset(release, config, cache_dir=cache_dir)
    if config == "tokens":
        names = ds["train"].features["trigger_tags"].feature.names
        data = {s: [(r["tokens"], r["trigger_tags"]) for r in ds[s]] for s in ds}
        return data, names
    manifest = json.loads((Path(release) / "manifest.json").read_text(encoding="utf-8"))
    event_types = list(manifest["ontology"]["event_types"])
    names = ["O"] + [f"{p}-{t}" for t in event_types for p in ("B", "I")]
    data = {s: [(r["tokens"], bio_from_events(r, event_types)) for r in ds[s]] for s in ds}
    return data, names


def spans(tags: list[int]) -> set[tuple[int, int, int]]:
    """(start, end, type index) of the BIO runs of tag ids (an I- without its B- starts one)."""
    out, start, kind = set(), None, None
    for i, t in enumerate([*tags, 0]):
        inside = t > 0 and t % 2 == 0 and start is not None and (t - 2) // 2 == kind
        if inside:
            continue
        if start is not None:
            out.add((start, i, kind))
            start = kind = None
        if t > 0:
            start, kind = i, (t - 1) // 2
    return out


def encode(tokenizer, batch, max_length: int):
    import torch

    enc = tokenizer(
        [toks for toks, _ in batch],
        is_split_into_words=True,
        truncation=True,
        max_length=max_length,
        padding=True,
        return_tensors="pt",
    )
    labels = []
    for i, (_, tags) in enumerate(batch):
        prev, row = None, []
        for w in enc.word_ids(i):
            row.append(-100 if w is None or w == prev else tags[w])
            prev = w
        labels.append(row)
    enc["labels"] = torch.tensor(labels)
    return enc


def predict(model, tokenizer, data, max_length: int, batch_size: int) -> list[list[int]]:
    """Word-level tag ids (from each word's first piece; words cut by truncation get O)."""
    import torch

    model.eval()
    out = []
    with torch.no_grad():
        for lo in range(0, len(data), batch_size):
            batch = data[lo : lo + batch_size]
            enc = encode(tokenizer, batch, max_length)
            enc.pop("labels")
            ids = model(**enc).logits.argmax(-1)
            for i, (toks, _) in enumerate(batch):
                tags, prev = [0] * len(toks), None
                for j, w in enumerate(enc.word_ids(i)):
                    if w is not None and w != prev:
                        tags[w] = int(ids[i, j])
                    prev = w
                out.append(tags)
    return out


def score(gold: list[list[int]], pred: list[list[int]]) -> dict[str, float | int]:
    tp = fp = fn = 0
    for g, p in zip(gold, pred, strict=True):
        gs, ps = spans(g), spans(p)
        tp, fp, fn = tp + len(gs & ps), fp + len(ps - gs), fn + len(gs - ps)
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"p": round(p, 4), "r": round(r, 4), "f1": round(f, 4), "tp": tp, "fp": fp, "fn": fn}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("release", help="a release folder (releases/VERSION or a copy of it)")
    ap.add_argument("--model", required=True, help="local checkpoint folder (save_pretrained)")
    ap.add_argument("--out", required=True, help="where to save the trained model")
    ap.add_argument("--config", choices=("events", "tokens"), default="events")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache-dir", help="datasets cache folder (default: the datasets default)")
    args = ap.parse_args(argv)

    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    random.seed(args.seed)
    torch.manual_seed(args.seed)
    t0 = time.perf_counter()
    data, names = load_release(args.release, args.config, args.cache_dir)
    train, dev = data.get("train", []), data.get("validation", [])
    if not train:
        print("error: the release has no train split", file=sys.stderr)
        return 1
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForTokenClassification.from_pretrained(
        args.model,
        num_labels=len(names),
        id2label=dict(enumerate(names)),
        label2id={n: i for i, n in enumerate(names)},
        ignore_mismatched_sizes=True,  # the checkpoint's head (if any) has other labels
    )
    optim = torch.optim.AdamW(model.parameters(), lr=args.lr)
    losses = []
    for _ in range(args.epochs):
        model.train()
        order = list(range(len(train)))
        random.shuffle(order)
        for lo in range(0, len(order), args.batch_size):
            batch = [train[i] for i in order[lo : lo + args.batch_size]]
            loss = model(**encode(tokenizer, batch, args.max_length)).loss
            loss.backward()
            optim.step()
            optim.zero_grad()
            losses.append(float(loss))
    result = {
        "config": args.config,
        "labels": names,
        "train_sentences": len(train),
        "epochs": args.epochs,
        "first_loss": round(losses[0], 4),
        "last_loss": round(losses[-1], 4),
    }
    if dev:
        pred = predict(model, tokenizer, dev, args.max_length, args.batch_size)
        result["validation"] = {"sentences": len(dev), **score([t for _, t in dev], pred)}
    Path(args.out).mkdir(parents=True, exist_ok=True)
    model.save_pretrained(args.out)
    tokenizer.save_pretrained(args.out)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
