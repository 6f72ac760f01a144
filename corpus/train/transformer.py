"""The transformer backend: fine-tune a local Hugging Face checkpoint for token classification.

The checkpoint (`--base PATH`, what `save_pretrained` writes, with a fast tokenizer) is loaded
with `local_files_only`: nothing is downloaded. Sentences go in as words (the lexicon's word
spans, so a span always covers whole words with their clitics, as Label Studio selects them);
each word's first sub-word carries its BIO tag, the other sub-words are ignored by the loss. One
tag per word means one layer of spans: where a trigger lies inside an entity, the entity is kept.
Trains on a GPU when torch sees one, else on the CPU. The fine-tuned model is saved in the version
folder (`hf/`); scores are softmax probabilities (a span's score: its least sure word).
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corpus.train.examples import Example, TrainError
from corpus.types import Span

if TYPE_CHECKING:
    from corpus.ontology import Ontology

DEFAULT_PARAMS = {"epochs": 3, "lr": 5e-5, "batch_size": 16, "max_length": 256, "seed": 13}


def _words(text: str) -> list[tuple[int, int]]:
    from corpus.prelabel.lexicon import word_spans

    return word_spans(text)


def _word_tags(words, spans: Sequence[Span]) -> list[str]:
    """BIO tag per word; entities first, then triggers on the words still free."""
    tags = ["O"] * len(words)
    for kind in ("entity", "trigger"):
        for s in sorted((x for x in spans if x.kind == kind), key=lambda x: (x.start, -x.end)):
            idx = [i for i, (a, b) in enumerate(words) if a < s.end and s.start < b]
            if not idx or any(tags[i] != "O" for i in idx):
                continue
            tags[idx[0]] = "B-" + s.label
            for i in idx[1:]:
                tags[i] = "I-" + s.label
    return tags


class TransformerModel:
    backend = "transformer"

    def __init__(self, model, tokenizer, labels: dict[str, list[str]], info: dict[str, Any]):
        self.model = model
        self.tokenizer = tokenizer
        self.labels = labels
        self.info = info
        self.max_length = int(info.get("params", {}).get("max_length", 256))
        self._kind = {lb: k for k, ls in labels.items() for lb in ls}
        self._tags = [model.config.id2label[i] for i in range(len(model.config.id2label))]

    @staticmethod
    def _device():
        import torch

        return torch.device("cuda" if torch.cuda.is_available() else "cpu")

    @classmethod
    def train(
        cls, examples: Sequence[Example], base: str | Path, ontology: Ontology, params=None
    ) -> TransformerModel:
        import torch
        from transformers import AutoModelForTokenClassification, AutoTokenizer

        p = {**DEFAULT_PARAMS, **(params or {})}
        base = Path(base).expanduser()
        if not (base / "config.json").is_file():
            raise TrainError(
                f"--base {base} is not a Hugging Face model folder (no config.json).",
                "Pass a folder written by save_pretrained; nothing is downloaded.",
            )
        labels = {
            k: sorted({s.label for ex in examples for s in ex.spans if s.kind == k})
            for k in ("entity", "trigger")
        }
        labels = {k: v for k, v in labels.items() if v}
        tags = ["O"] + [f"{b}-{lb}" for v in labels.values() for lb in v for b in ("B", "I")]
        try:
            tokenizer = AutoTokenizer.from_pretrained(base, local_files_only=True)
            model = AutoModelForTokenClassification.from_pretrained(
                base,
                local_files_only=True,
                num_labels=len(tags),
                id2label=dict(enumerate(tags)),
                label2id={t: i for i, t in enumerate(tags)},
                ignore_mismatched_sizes=True,  # a new classification head for our tags
            )
        except (OSError, ValueError) as e:
            raise TrainError(f"Cannot load the checkpoint in {base}: {e}") from e
        if not getattr(tokenizer, "is_fast", False):
            raise TrainError(f"The tokenizer in {base} is not a fast tokenizer (needed).")
        device = cls._device()
        model.to(device)
        tag_id = {t: i for i, t in enumerate(tags)}
        data = []
        for ex in examples:
            words = _words(ex.text)
            if words:
                wt = _word_tags(words, ex.spans)
                data.append(([ex.text[a:b] for a, b in words], [tag_id[t] for t in wt]))
        rng = random.Random(p["seed"])
        torch.manual_seed(p["seed"])
        opt = torch.optim.AdamW(model.parameters(), lr=float(p["lr"]))
        losses = []
        t0 = time.perf_counter()
        model.train()
        for _epoch in range(int(p["epochs"])):
            rng.shuffle(data)
            total = 0.0
            for b in range(0, len(data), int(p["batch_size"])):
                batch = data[b : b + int(p["batch_size"])]
                enc, targets = cls._encode(tokenizer, batch, int(p["max_length"]))
                out = model(
                    input_ids=enc["input_ids"].to(device),
                    attention_mask=enc["attention_mask"].to(device),
                    labels=targets.to(device),
                )
                opt.zero_grad()
                out.loss.backward()
                opt.step()
                total += float(out.loss.detach()) * len(batch)
            losses.append(round(total / max(1, len(data)), 4))
        model.eval()
        info = {
            "params": p,
            "device": str(device),
            "epoch_losses": losses,
            "fine_tune_seconds": round(time.perf_counter() - t0, 2),
        }
        return cls(model.cpu() if device.type != "cpu" else model, tokenizer, labels, info)

    @staticmethod
    def _encode(tokenizer, batch, max_length: int):
        import torch

        enc = tokenizer(
            [w for w, _ in batch],
            is_split_into_words=True,
            padding=True,
            truncation=True,
            max_length=max_length,
            return_tensors="pt",
        )
        targets = torch.full(enc["input_ids"].shape, -100, dtype=torch.long)
        for row, (_words, tags) in enumerate(batch):
            prev = None
            for pos, w in enumerate(enc.word_ids(row)):
                if w is not None and w != prev:
                    targets[row, pos] = tags[w]
                prev = w
        return enc, targets

    # -- persistence
    def save(self, folder: Path) -> list[str]:
        self.model.save_pretrained(folder / "hf")
        self.tokenizer.save_pretrained(folder / "hf")
        return sorted(f"hf/{p.name}" for p in (folder / "hf").iterdir())

    @classmethod
    def load(cls, folder: Path, card: dict) -> TransformerModel:
        from transformers import AutoModelForTokenClassification, AutoTokenizer

        path = folder / "hf"
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModelForTokenClassification.from_pretrained(path, local_files_only=True)
        model.eval()
        info = {k: card[k] for k in ("params",) if k in card}
        return cls(model, tokenizer, card["labels"], info)

    # -- prediction
    def predict(self, text: str) -> list[Span]:
        return self.analyse(text)[0]

    def predict_batch(self, texts: Sequence[str]) -> list[list[Span]]:
        return [self.analyse(t)[0] for t in texts]

    def analyse(self, text: str, uncertainty: bool = False) -> tuple[list[Span], float]:
        import torch

        words = _words(text)
        if not words:
            return [], 0.0
        enc = self.tokenizer(
            [[text[a:b] for a, b in words]],
            is_split_into_words=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        with torch.inference_mode():
            logits = self.model(
                input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]
            ).logits[0]
        probs = torch.softmax(logits, dim=-1)
        top = torch.topk(probs, k=min(2, probs.shape[-1]), dim=-1)
        values, indices = top.values.tolist(), top.indices.tolist()
        word_tag: dict[int, tuple[str, float, float]] = {}
        prev = None
        for pos, w in enumerate(enc.word_ids(0)):
            if w is not None and w != prev:
                second = values[pos][1] if len(values[pos]) > 1 else 0.0
                word_tag[w] = (self._tags[indices[pos][0]], values[pos][0], second)
            prev = w
        spans: list[Span] = []
        cur: list | None = None  # [first, last, label, probs]

        def close() -> None:
            label = cur[2]
            spans.append(
                Span(
                    words[cur[0]][0],
                    words[cur[1]][1],
                    label,
                    self._kind.get(label, "entity"),
                    round(min(cur[3]), 4),
                    "transformer",
                )
            )

        for w in range(len(words)):
            tag, prob, _ = word_tag.get(w, ("O", 0.0, 0.0))
            label = None if tag == "O" else tag[2:]
            if cur and (label is None or tag.startswith("B-") or label != cur[2]):
                close()
                cur = None
            if label is not None and label in self._kind:
                if cur is None:
                    cur = [w, w, label, [prob]]
                else:
                    cur[1] = w
                    cur[3].append(prob)
        if cur:
            close()
        unsure = 0.0
        if uncertainty:
            unsure = max((1.0 - (p1 - p2) for _t, p1, p2 in word_tag.values()), default=0.0)
        return spans, unsure
