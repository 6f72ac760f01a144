"""A workspace: a folder with corpus.toml, data/ and releases/, found from the cwd upward."""

from __future__ import annotations

import copy
import json
import os
import shutil
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tomli_w

from corpus.errors import CorpusError, WorkspaceConfigError, WorkspaceNotFound
from corpus.lock import staging_name, temp_path

if TYPE_CHECKING:
    from corpus.fs import DataPath

CONFIG_NAME = "corpus.toml"
REPO_ROOT = Path(__file__).resolve().parents[1]  # a checkout's root (scripts/, .venv-labelstudio/)

DEFAULT_CONFIG: dict[str, Any] = {
    # `data`: the stage files' folder, relative to the workspace, absolute, or a URI on any
    # fsspec filesystem (s3://bucket/prefix); config, state and releases stay in the workspace.
    "workspace": {"name": "arabic-events", "language": "ar", "data": "data"},
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
    _data: tuple | None = field(default=None, init=False, repr=False, compare=False)

    # Stage files: one place names them all. They may live on another filesystem (a UPath).
    @property
    def data_location(self) -> str:
        """The `[workspace] data` setting as written (default "data")."""
        return str(self.section("workspace").get("data") or "data")

    @property
    def data_remote(self) -> bool:
        from corpus.fs import is_uri

        return is_uri(self.data_location)

    @property
    def data_dir(self) -> DataPath:
        # Cached: a remote location makes its filesystem client once per workspace object.
        key = (self.root, self.data_location)
        if self._data is None or self._data[0] != key:
            from corpus.fs import data_path

            self._data = (key, data_path(self.data_location, self.root))
        return self._data[1]

    def staging(self, kind: str) -> str | DataPath:
        """This process's scratch folder for `kind` (e.g. "ingest") that Ray workers read: next
        to the data when it is remote (every node reaches it), else in .corpus/ (a shared mount
        on a cluster, as the data). Named `staging_name(kind)`, so the next writing command
        removes it should this one be killed."""
        name = staging_name(kind)
        return self.data_dir / f".{name}" if self.data_remote else str(self.state_dir / name)

    def shown(self, path: DataPath) -> str:
        """`path` for messages: relative to the workspace when inside it, else in full."""
        if isinstance(path, Path) and path.is_relative_to(self.root):
            return str(path.relative_to(self.root))
        return str(path)

    @property
    def releases_dir(self) -> Path:
        return self.root / "releases"

    @property
    def quarantine_dir(self) -> DataPath:
        return self.data_dir / "quarantine"

    @property
    def state_dir(self) -> Path:
        """Machine-written state (server, project ids, pull cursor); not for hand editing."""
        return self.root / ".corpus"

    @property
    def articles_path(self) -> DataPath:
        return self.data_dir / "articles.parquet"

    @property
    def sentences_path(self) -> DataPath:
        return self.data_dir / "sentences.parquet"

    @property
    def predictions_path(self) -> DataPath:
        return self.data_dir / "predictions.parquet"

    @property
    def annotations_path(self) -> DataPath:
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
    def init(cls, root: Path, name: str | None = None, data: str | None = None) -> Workspace:
        """Create a workspace at `root` (idempotent: an existing corpus.toml is kept).

        `data` is where the stage files go (default "data" in the workspace; a URI such as
        s3://bucket/prefix for any fsspec filesystem). It must answer before anything is written.
        """
        root = root.resolve()
        if (root / CONFIG_NAME).exists():
            ws = cls.load(root)
            if data is not None and data != ws.data_location:
                raise CorpusError(
                    f"{root} already keeps its data in {ws.data_location}, not {data}.",
                    "To move it, copy the files there and edit `data` under [workspace] in "
                    "corpus.toml.",
                )
        else:
            over: dict[str, Any] = {"name": name or root.name}
            if data is not None:
                over["data"] = data
            ws = cls(root=root, config=_merge(DEFAULT_CONFIG, {"workspace": over}))
        ws.check_data()
        root.mkdir(parents=True, exist_ok=True)
        if not (root / CONFIG_NAME).exists():
            ws.save_config()
        # An object store has no folders to make (and making one could create a bucket).
        local = [ws.releases_dir] + ([] if ws.data_remote else [ws.data_dir, ws.quarantine_dir])
        for d in local:
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

    def check_data(self) -> None:
        """A one-line CorpusError unless the data location answers (remote data only)."""
        if self.data_remote:
            from corpus.fs import check_reachable

            check_reachable(self.data_dir)
