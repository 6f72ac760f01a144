"""Versioned models in the workspace: `models/NAME/vN/` (model files, `card.json`, `CARD.md`) and
`models/NAME/current` (a one-line file naming the version in use).

A version folder is written next to its final place and renamed into it, then `current` is
replaced atomically, so an interrupted `corpus train` never leaves a half-written model in use.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corpus.lock import temp_path
from corpus.train import TrainedModel
from corpus.train.examples import TrainError

if TYPE_CHECKING:
    from corpus.workspace import Workspace

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_VERSION = re.compile(r"^v(\d+)$")
CARD_JSON = "card.json"
CARD_MD = "CARD.md"


def models_dir(ws: Workspace) -> Path:
    return ws.root / "models"


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name or ""):
        raise TrainError(
            f"Model name {name!r} is not usable as a folder name.",
            "Use letters, digits, '.', '_' and '-' (e.g. --name ner).",
        )
    return name


def versions(ws: Workspace, name: str) -> list[str]:
    folder = models_dir(ws) / name
    found = [p.name for p in folder.glob("v*") if p.is_dir() and _VERSION.fullmatch(p.name)]
    return sorted(found, key=lambda v: int(v[1:]))


def current_version(ws: Workspace, name: str) -> str | None:
    pointer = models_dir(ws) / name / "current"
    if pointer.is_file():
        v = pointer.read_text(encoding="utf-8").strip()
        if v and (models_dir(ws) / name / v).is_dir():
            return v
    vs = versions(ws, name)
    return vs[-1] if vs else None


def save_model(ws: Workspace, name: str, model: TrainedModel, card: dict | None = None) -> str:
    """Write `model` as the next version of `name`, make it current, return the version."""
    check_name(name)
    folder = models_dir(ws) / name
    folder.mkdir(parents=True, exist_ok=True)
    vs = versions(ws, name)
    version = f"v{int(vs[-1][1:]) + 1 if vs else 1}"
    tmp = folder / f".tmp-{version}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        files = model.impl.save(tmp)
        info = {**model.card, **(card or {})}
        info.update({"name": name, "version": version, "files": files})
        (tmp / CARD_JSON).write_text(
            json.dumps(info, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        (tmp / CARD_MD).write_text(card_markdown(info), encoding="utf-8")
        tmp.rename(folder / version)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    pointer = temp_path(folder / "current")
    pointer.write_text(version + "\n", encoding="utf-8")
    os.replace(pointer, folder / "current")
    model.card = info
    return version


def load_model(ws: Workspace, name: str, version: str | None = None) -> TrainedModel:
    """The model `name` (its current version unless `version` is given)."""
    check_name(name)
    version = version or current_version(ws, name)
    folder = models_dir(ws) / name / (version or "")
    if not version or not (folder / CARD_JSON).is_file():
        have = ", ".join(p.name for p in sorted(models_dir(ws).glob("*")) if p.is_dir()) or "none"
        raise TrainError(
            f"No trained model {name!r}{' version ' + version if version else ''} in "
            f"{models_dir(ws)} (models: {have}).",
            f"Train it with `corpus train --name {name}`.",
        )
    card = json.loads((folder / CARD_JSON).read_text(encoding="utf-8"))
    labels = card["labels"]
    if card["backend"] == "crf":
        from corpus.train.crf import CRFModel
        from corpus.train.features import FEATURE_VERSION

        if card.get("feature_version") != FEATURE_VERSION:
            raise TrainError(
                f"Model {name} {version} was trained with CRF features of another version of "
                f"this tool ({card.get('feature_version')}, now {FEATURE_VERSION}).",
                f"Retrain it: corpus train --name {name}",
            )

        impl: Any = CRFModel.load(folder, labels, card.get("lexicon_features", True))
    elif card["backend"] == "transformer":
        from corpus.train.transformer import TransformerModel

        impl = TransformerModel.load(folder, card)
    else:
        raise TrainError(f"{folder / CARD_JSON}: unknown backend {card['backend']!r}.")
    return TrainedModel(card["backend"], impl, card["ontology"]["hash"], labels, card)


def card_markdown(info: dict[str, Any]) -> str:
    """The human-readable model card."""
    tr = info.get("training", {})
    onto = info.get("ontology", {})
    lines = [
        f"# Model {info['name']} {info['version']}",
        "",
        f"- Backend: `{info['backend']}`",
    ]
    if info.get("base_model"):
        lines.append(f"- Base model: `{info['base_model']}`")
    if info.get("features"):
        lines.append(f"- Features: {info['features']}")
    lines += [
        f"- Ontology: `{onto.get('name')}` {onto.get('version')}, sha256 `{onto.get('hash')}`",
        "- Labels: " + "; ".join(f"{k}: {', '.join(v)}" for k, v in info.get("labels", {}).items()),
        f"- Trained: {info.get('trained_at', '')} in {tr.get('seconds', '?')} s on "
        f"{tr.get('sentences', '?')} sentences",
    ]
    for src in info.get("data", []):
        lines.append(f"  - data: {src}")
    val = info.get("validation")
    if val:
        lines += [
            "",
            f"## Validation ({val.get('sentences', '?')} sentences, exact-span match)",
            "",
            "| label | P | R | F1 | gold |",
            "| --- | --- | --- | --- | --- |",
        ]
        for lb, s in val.get("per_label", {}).items():
            lines.append(f"| {lb} | {s['p']:.3f} | {s['r']:.3f} | {s['f1']:.3f} | {s['gold']} |")
        m = val["micro"]
        lines.append(f"| **micro** | {m['p']:.3f} | {m['r']:.3f} | {m['f1']:.3f} | |")
    return "\n".join(lines) + "\n"
