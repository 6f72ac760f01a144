"""A Hugging Face token-classification model in a local folder as a pre-labeler (`hf:PATH`).

The folder is what `save_pretrained` writes (config.json, weights, a fast tokenizer); nothing is
downloaded (`local_files_only`). The model labels words: the sentence goes in as pre-split words
(`is_split_into_words`) and each word's first sub-word prediction is the word's tag; long
sentences are cut into chunks that fit `max_length`. Tags are BIO/BIOES (`B-GPE`, `I-Conflict.Attack`,
`S-PER`, ...) or bare labels; common aliases map to the ontology (PERS -> PER, LOCATION -> LOC,
DATE -> TIME ...). A tag whose label is neither an entity type nor an event type of the ontology is
ignored. Labels the model never predicts (its config has no tag for them) come from the lexicon.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from corpus.prelabel import PrelabelerError, PrelabelerUnavailable
from corpus.prelabel.lexicon import LexiconPrelabeler, merge_spans
from corpus.types import Span

if TYPE_CHECKING:
    from corpus.ontology import Ontology
    from corpus.workspace import Workspace

ALIASES = {
    "PERS": "PER",
    "PERSON": "PER",
    "LOCATION": "LOC",
    "ORGANIZATION": "ORG",
    "ORGANISATION": "ORG",
    "DATE": "TIME",
    "WEAPON": "WEA",
    "VEHICLE": "VEH",
    "FACILITY": "FAC",
}
_PREFIXES = {"B": "B", "I": "I", "E": "I", "L": "I", "S": "B", "U": "B"}


def parse_tag(tag: str) -> tuple[str, str | None]:
    """("B"|"I"|"O", label or None): `B-GPE` -> ("B", "GPE"), `S-PER` -> ("B", "PER"),
    `O` -> ("O", None), a bare `GPE` -> ("I", "GPE") (continues a run of the same label)."""
    tag = tag.strip()
    if not tag or tag.upper() == "O":
        return "O", None
    head, sep, rest = tag.partition("-")
    if sep and head.upper() in _PREFIXES and rest:
        return _PREFIXES[head.upper()], ALIASES.get(rest.upper(), rest)
    return "I", ALIASES.get(tag.upper(), tag)


class HFPrelabeler:
    """Token-classification model + lexicon for the labels the model does not produce."""

    def __init__(
        self,
        path: str | Path,
        ontology: Ontology | None = None,
        lexicon: LexiconPrelabeler | None = None,
        batch_size: int = 16,
        max_length: int = 512,
    ):
        self.path = Path(path)
        reason = _missing(self.path)
        if reason:
            raise PrelabelerUnavailable(f"hf:{path}", reason)
        if ontology is None:
            from corpus.ontology import default_ontology_path, load_ontology

            ontology = load_ontology(default_ontology_path())
        self.ontology = ontology
        self.lexicon = lexicon or LexiconPrelabeler()
        self.batch_size = batch_size
        self.max_length = max_length
        self.name = f"hf:{self.path.name}"
        self._model = None
        self._tokenizer = None
        self._tags: list[tuple[str, str | None, str | None]] = []  # id -> (prefix, label, kind)
        self._version: str | None = None

    @classmethod
    def from_spec(cls, spec: str, workspace: Workspace | None = None) -> HFPrelabeler:
        """`hf:PATH`, PATH relative to the workspace root (or the current folder)."""
        path = Path(spec[3:]).expanduser()
        if not path.is_absolute() and workspace is not None:
            path = workspace.root / path
        ontology = None
        if workspace is not None and workspace.ontology_path.exists():
            from corpus.ontology import load_ontology

            ontology = load_ontology(workspace.ontology_path)
        # the lexicon part with the workspace's own gazetteer entries
        return cls(path, ontology, lexicon=LexiconPrelabeler.from_workspace(workspace))

    @property
    def version(self) -> str:
        if self._version is None:
            self._version = self._compute_version()
        return self._version

    def _compute_version(self) -> str:
        h = hashlib.sha256((self.path / "config.json").read_bytes())
        for f in sorted(self.path.iterdir()):
            if f.is_file() and f.suffix in (".safetensors", ".bin", ".json", ".txt", ".model"):
                h.update(f"{f.name}:{f.stat().st_size}".encode())
        return f"{self.name}@{h.hexdigest()[:10]}+{self.lexicon.version}"

    def _load(self) -> None:
        if self._model is not None:
            return
        from transformers import AutoModelForTokenClassification, AutoTokenizer

        try:
            self._tokenizer = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
            model = AutoModelForTokenClassification.from_pretrained(
                self.path, local_files_only=True
            )
        except (OSError, ValueError) as e:
            raise PrelabelerError(
                f"Cannot load the model in {self.path}: {e}",
                "The folder must hold what save_pretrained writes: config.json, weights, tokenizer.",
            ) from e
        if not getattr(self._tokenizer, "is_fast", False):
            raise PrelabelerError(
                f"The tokenizer in {self.path} is not a fast tokenizer: word alignment needs one.",
                "Save the tokenizer with tokenizer.json (any AutoTokenizer.save_pretrained does).",
            )
        model.eval()
        self._model = model
        id2label = model.config.id2label
        for i in range(len(id2label)):
            prefix, label = parse_tag(str(id2label[i]))
            kind = self.ontology.kind_of(label) if label else None
            self._tags.append((prefix, label if kind else None, kind))
        self._specials = self._tokenizer.num_special_tokens_to_add()

    @property
    def model_labels(self) -> set[str]:
        self._load()
        return {label for _p, label, _k in self._tags if label}

    def predict(self, text: str) -> list[Span]:
        return self.predict_batch([text])[0]

    def predict_batch(self, texts: Sequence[str]) -> list[list[Span]]:
        self._load()
        lex = self.lexicon
        analysed = [lex.analyse(t) for t in texts]
        # One model input per chunk of words that fits max_length (sub-word pieces counted).
        chunks: list[tuple[int, list[int], list[str]]] = []  # (text, word indexes, words)
        tok = self._tokenizer
        room = self.max_length - self._specials
        for k, (text, (starts, ends, _found)) in enumerate(zip(texts, analysed, strict=True)):
            words = [text[s:e] for s, e in zip(starts, ends, strict=True)]
            if not words:
                continue
            sizes = tok(words, add_special_tokens=False)["input_ids"]
            index: list[int] = []
            used = 0
            for w, ids in enumerate(sizes):
                n = max(1, min(len(ids), room))
                if used + n > room and index:
                    chunks.append((k, index, [words[i] for i in index]))
                    index, used = [], 0
                index.append(w)
                used += n
            chunks.append((k, index, [words[i] for i in index]))
        tags: list[dict[int, tuple[int, float]]] = [{} for _ in texts]  # word -> (tag id, prob)
        for b in range(0, len(chunks), self.batch_size):
            self._run(chunks[b : b + self.batch_size], tags)

        out = []
        claimed = self.model_labels
        for k, (starts, ends, found) in enumerate(analysed):
            model_spans = self._decode(tags[k], starts, ends)
            lexicon_spans = [
                Span(starts[s], ends[e - 1], label, kind, score, lex.source)
                for s, e, label, kind, score in found
                if label not in claimed
            ]
            out.append(merge_spans(model_spans, lexicon_spans))
        return out

    def _run(self, chunks, tags) -> None:
        """Tag each word of each chunk with the prediction for its first sub-word."""
        import torch

        enc = self._tokenizer(
            [words for _k, _index, words in chunks],
            is_split_into_words=True,
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        with torch.inference_mode():
            logits = self._model(
                input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]
            ).logits
        best = torch.softmax(logits, dim=-1).max(dim=-1)
        values, indices = best.values.tolist(), best.indices.tolist()
        for row, (k, index, _words) in enumerate(chunks):
            seen: set[int] = set()
            for pos, w in enumerate(enc.word_ids(row)):
                if w is not None and w not in seen:  # first sub-word of word w
                    seen.add(w)
                    tags[k][index[w]] = (indices[row][pos], values[row][pos])

    def _decode(self, word_tags, starts, ends) -> list[Span]:
        spans: list[Span] = []
        cur: list | None = None  # [first, last, label, kind, probs]
        for w in range(len(starts) + 1):
            prefix, label, kind = ("O", None, None)
            prob = 0.0
            if w < len(starts) and w in word_tags:
                tag_id, prob = word_tags[w]
                prefix, label, kind = self._tags[tag_id]
            if cur and (label is None or prefix == "B" or label != cur[2]):
                score = round(sum(cur[4]) / len(cur[4]), 4)
                spans.append(Span(starts[cur[0]], ends[cur[1]], cur[2], cur[3], score, "hf"))
                cur = None
            if label is not None:
                if cur is None:
                    cur = [w, w, label, kind, [prob]]
                else:
                    cur[1] = w
                    cur[4].append(prob)
        return spans


def _missing(path: Path) -> str:
    """Why a model folder cannot be used, or "" if it looks usable."""
    for module in ("torch", "transformers"):
        if importlib.util.find_spec(module) is None:
            return f"the {module} package is not installed"
    if not path.is_dir():
        return f"no model folder at {path}"
    config = path / "config.json"
    if not config.is_file():
        return f"{path} has no config.json (save the model with save_pretrained)"
    try:
        cfg = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        return f"cannot read {config} ({e})"
    if not cfg.get("id2label"):
        return f"{config} has no id2label: not a token-classification model"
    return ""
