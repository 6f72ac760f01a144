"""scripts/train_trigger_tagger.py trains a trigger tagger from a release with `transformers`, on a
tiny BERT with random weights and a word-level tokenizer built here from the release's tokens
(nothing is downloaded), in well under a minute on CPU."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_publish import build_workspace, load  # noqa: E402  (tests/ is on sys.path)

from corpus.publish.build import publish

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "train_trigger_tagger.py"


def _script():
    spec = importlib.util.spec_from_file_location("train_trigger_tagger", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    root = tmp_path_factory.mktemp("tagger")
    return publish(build_workspace(root / "ws").ws, "1.0.0").path


def tiny_model(folder: Path, words: list[str]) -> Path:
    """A 1-layer BERT (random weights) and a word-level fast tokenizer over `words`."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import BertConfig, BertForTokenClassification, PreTrainedTokenizerFast

    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
    vocab = {w: i for i, w in enumerate([*special, *sorted(set(words))])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
    )
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertForTokenClassification(config).save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


def test_events_config_gives_the_same_trigger_tags_as_the_tokens_config(release, tmp_path):
    mod = _script()
    events, names_e = mod.load_release(str(release), "events", str(tmp_path / "c"))
    tokens, names_t = mod.load_release(str(release), "tokens", str(tmp_path / "c"))
    assert names_e == names_t
    for split in tokens:
        assert events[split] == tokens[split]  # same tokens, same BIO tags, same order


def test_the_script_trains_a_trigger_tagger_in_under_a_minute(release, tmp_path):
    words = [
        w for toks, _ in _script().load_release(str(release), "tokens")[0]["train"] for w in toks
    ]
    model = tiny_model(tmp_path / "tiny", words)
    out = tmp_path / "trained"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), str(release), "--model", str(model), "--out", str(out)]
        + ["--epochs", "8", "--lr", "3e-3", "--cache-dir", str(tmp_path / "cache")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    seconds = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seconds < 60, seconds
    assert result["config"] == "events" and result["labels"][0] == "O"
    assert result["train_sentences"] == len(load(release, "events", tmp_path)["train"])
    assert result["last_loss"] < result["first_loss"]  # it learned something
    assert result["validation"]["tp"] + result["validation"]["fn"] > 0
    assert (out / "config.json").is_file() and (out / "tokenizer.json").is_file()
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["id2label"]["0"] == "O" and len(cfg["id2label"]) == len(result["labels"])
