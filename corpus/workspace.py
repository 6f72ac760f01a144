"""A workspace: a folder with corpus.toml, data/ and releases/, found from the cwd upward."""

from __future__ import annotations

import copy
import json
import os
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from corpus.errors import WorkspaceConfigError, WorkspaceNotFound
from corpus.lock import temp_path

CONFIG_NAME = "corpus.toml"
REPO_ROOT = Path(__file__).resolve().parents[1]  # a checkout's root (scripts/, .venv-labelstudio/)

DEFAULT_CONFIG: dict[str, Any] = {
    "workspace": {"name": "arabic-events", "language": "ar"},
    # The ontology file, relative to the workspace; `corpus init` copies the default one in.
    "ontology": {"path": "annotation_configs/conflict_events.yaml"},
    "ingest": {
        "min_arabic_ratio": 0.5,
        "min_chars": 20,
        "max_chars": 200_000,
        "near_duplicate_threshold": 0.7,
        "encoding": "auto",  # of text sources: detected, or a codec name (--encoding)
    },
    "segment": {"max_sentence_chars": 0},
    "prelabel": {"prelabeler": "lexicon"},
    "label_studio": {
        # Empty url: the embedded server (`corpus server start`); LABEL_STUDIO_URL overrides.
        "url": "",
        "project_title": "Arabic events",
        "port": 0,
    },
    "splits": {"train": 0.8, "validation": 0.1, "test": 0.1, "seed": 13, "min_groups": 1},
    "adjudication": {"policy": "latest", "reviewer": ""},
}


def _merge(base: dict, over: dict) -> dict:
    """A deep merge that copies `base`, so editing a workspace's config never edits the defaults."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = _merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return out


@dataclass
class Workspace:
    root: Path
    config: dict[str, Any]

    # Stage files: one place names them all.
    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def releases_dir(self) -> Path:
        return self.root / "releases"

    @property
    def quarantine_dir(self) -> Path:
        return self.data_dir / "quarantine"

    @property
    def state_dir(self) -> Path:
        """Machine-written state (server, project ids, pull cursor); not for hand editing."""
        return self.root / ".corpus"

    @property
    def articles_path(self) -> Path:
        return self.data_dir / "articles.parquet"

    @property
    def sentences_path(self) -> Path:
        return self.data_dir / "sentences.parquet"

    @property
    def predictions_path(self) -> Path:
        return self.data_dir / "predictions.parquet"

    @property
    def annotations_path(self) -> Path:
        return self.data_dir / "annotations.parquet"

    @property
    def ontology_path(self) -> Path:
        p = Path(self.config["ontology"]["path"])
        return p if p.is_absolute() else self.root / p

    def section(self, name: str) -> dict[str, Any]:
        return self.config.get(name, {})

    # Small JSON state store, written atomically so an interrupted run never corrupts it.
    def read_state(self, name: str) -> dict[str, Any]:
        path = self.state_dir / f"{name}.json"
        if not path.exists():
            return {}
        return json.loads(path.read_text(encoding="utf-8"))

    def write_state(self, name: str, value: dict[str, Any], private: bool = False) -> Path:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        path = self.state_dir / f"{name}.json"
        tmp = temp_path(path)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(value, f, indent=2, ensure_ascii=False)
        os.replace(tmp, path)
        return path

    def save_config(self) -> None:
        path = self.root / CONFIG_NAME
        tmp = temp_path(path)
        tmp.write_text(tomli_w.dumps(self.config), encoding="utf-8")
        os.replace(tmp, path)

    @classmethod
    def load(cls, root: Path) -> Workspace:
        path = root / CONFIG_NAME
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise WorkspaceConfigError(str(path), f"not valid TOML ({e})") from e
        return cls(root=root.resolve(), config=_merge(DEFAULT_CONFIG, raw))

    @classmethod
    def find(cls, start: Path | None = None) -> Workspace:
        """The workspace containing `start` (default: the current folder), searching upward."""
        start = (start or Path.cwd()).resolve()
        for d in [start, *start.parents]:
            if (d / CONFIG_NAME).is_file():
                return cls.load(d)
        raise WorkspaceNotFound(str(start))

    @classmethod
    def init(cls, root: Path, name: str | None = None) -> Workspace:
        """Create a workspace at `root` (idempotent: an existing corpus.toml is kept)."""
        root = root.resolve()
        root.mkdir(parents=True, exist_ok=True)
        if (root / CONFIG_NAME).exists():
            ws = cls.load(root)
        else:
            cfg = _merge(DEFAULT_CONFIG, {"workspace": {"name": name or root.name}})
            ws = cls(root=root, config=cfg)
            ws.save_config()
        for d in (ws.data_dir, ws.releases_dir, ws.quarantine_dir):
            d.mkdir(parents=True, exist_ok=True)
        # The user's own copy of the ontology, so they can edit it per workspace.
        target = ws.ontology_path
        if not target.exists():
            from corpus.bundled import ontology_file  # raises if the package lacks it

            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ontology_file(), target)
        gi = root / ".gitignore"
        if not gi.exists():
            gi.write_text(".corpus/\ndata/\n", encoding="utf-8")
        return ws
