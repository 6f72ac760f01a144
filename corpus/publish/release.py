"""Working with published releases: verify, diff, copy to any fsspec target, push to the Hub."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from corpus.errors import ReleaseError
from corpus.publish.configs import CONFIGS
from corpus.publish.manifest import (
    CARD,
    MANIFEST,
    make_read_only,
    read_manifest,
    sha256_file,
    version_key,
)
from corpus.publish.splits import SPLITS
from corpus.publish.stats import label_counts
from corpus.publish.validate import manifest_problems
from corpus.workspace import Workspace


def release_dir(ws: Workspace, version: str) -> Path:
    """`releases/VERSION` of the workspace (or VERSION itself if it is a release folder)."""
    as_path = Path(version)
    if (as_path / MANIFEST).is_file():
        return as_path
    version_key(version)
    path = ws.releases_dir / version
    if not path.is_dir():
        published = ", ".join(p.name for p in sorted(ws.releases_dir.glob("[0-9]*"))) or "none"
        raise ReleaseError(
            f"No release {version} in {ws.releases_dir} (published: {published}).",
            f"Publish it with `corpus publish {version}`.",
        )
    return path


def group_splits(path: Path) -> dict[str, str]:
    """Article group -> split of a published release (from its documents config)."""
    manifest = read_manifest(path)
    out: dict[str, str] = {}
    for split, rel in manifest["configs"]["documents"]["files"].items():
        groups = pc.unique(pq.read_table(Path(path) / rel, columns=["group"])["group"])
        out.update(dict.fromkeys(groups.to_pylist(), split))
    return out


# --- verify -------------------------------------------------------------------------------------


@dataclass
class VerifyReport:
    path: Path
    version: str | None
    files: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(path: Path) -> VerifyReport:
    """Check a release folder: every file's sha256, nothing extra or missing, each Parquet file's
    schema and row count against the manifest, and splits disjoint by sentence and article group.
    """
    from datasets import Features

    path = Path(path)
    manifest = read_manifest(path)
    rep = VerifyReport(path, manifest.get("version"))
    listed = manifest.get("files", {})
    present = {str(p.relative_to(path)) for p in path.rglob("*") if p.is_file()} - {MANIFEST}
    for name in sorted(set(listed) - present):
        rep.problems.append(f"{name}: listed in the manifest but missing")
    for name in sorted(present - set(listed)):
        rep.problems.append(f"{name}: not listed in the manifest")
    for name in sorted(set(listed) & present):
        rep.files += 1
        if sha256_file(path / name) != listed[name]["sha256"]:
            rep.problems.append(f"{name}: sha256 differs from the manifest (file changed)")
    if CARD not in listed:
        rep.problems.append(f"{CARD}: the dataset card is missing")

    ids: dict[str, dict[str, pa.Table]] = {}
    for config in CONFIGS:
        spec = manifest.get("configs", {}).get(config)
        if spec is None:
            rep.problems.append(f"config {config}: missing from the manifest")
            continue
        expected = Features.from_dict(spec["features"]).arrow_schema
        for split in SPLITS:
            rel = spec["files"].get(split)
            if rel is None:  # empty splits have no file
                if manifest.get("rows", {}).get(config, {}).get(split):
                    rep.problems.append(f"config {config}: split {split} has rows but no file")
                continue
            f = path / rel
            if not f.is_file():
                continue  # already reported as missing
            try:
                pf = pq.ParquetFile(f)
            except Exception as e:  # noqa: BLE001 - any unreadable file is a finding, not a crash
                rep.problems.append(f"{rel}: not a readable Parquet file ({e})")
                continue
            if not pf.schema_arrow.equals(expected, check_metadata=False):
                rep.problems.append(f"{rel}: schema differs from the manifest's features")
            want = manifest.get("rows", {}).get(config, {}).get(split)
            if pf.metadata.num_rows != want:
                rep.problems.append(f"{rel}: {pf.metadata.num_rows} rows, manifest says {want}")
            cols = {
                "sentences": ["id", "group"],
                "documents": ["id", "group"],
                "tokens": ["id"],
                "events": ["id"],
            }
            try:
                t = pq.read_table(f, columns=cols[config])
            except Exception as e:  # noqa: BLE001
                rep.problems.append(f"{rel}: cannot read ({e})")
                continue
            ids.setdefault(config, {})[split] = t

    # No sentence, article or article group in two splits; tokens cover the same sentences.
    for config, what in (("sentences", "sentence"), ("documents", "article")):
        got = ids.get(config, {})
        for i, a in enumerate(SPLITS):
            for b in SPLITS[i + 1 :]:
                if a in got and b in got:
                    for col, label in (("id", what), ("group", "article group")):
                        both = pc.unique(
                            got[a][col].filter(
                                pc.is_in(got[a][col], value_set=pc.unique(got[b][col]))
                            )
                        )
                        if len(both):
                            rep.problems.append(
                                f"{config}: {len(both)} {label}(s) in both {a} and {b} "
                                f"(e.g. {pc.min(both).as_py()})"
                            )
    for split in SPLITS:
        s = ids.get("sentences", {}).get(split)
        for config in ("tokens", "events"):
            t = ids.get(config, {}).get(split)
            if s is not None and t is not None and not s["id"].equals(t["id"]):
                rep.problems.append(f"{config}/{split}: sentence ids differ from sentences/{split}")
    rep.problems += manifest_problems(path, manifest)
    return rep


# --- diff ---------------------------------------------------------------------------------------


@dataclass
class DiffReport:
    old: str
    new: str
    added: list[str]
    removed: list[str]
    relabelled: list[str]
    moved_split: list[str]
    label_counts: dict[str, dict[str, dict[str, int]]]
    warnings: list[str] = field(default_factory=list)

    def as_dict(self, limit: int | None = None) -> dict[str, Any]:
        """Counts plus (up to `limit`) example ids of each kind of change."""

        def ex(ids: list[str]) -> list[str]:
            return ids if limit is None else ids[:limit]

        return {
            "old": self.old,
            "new": self.new,
            "added": len(self.added),
            "removed": len(self.removed),
            "relabelled": len(self.relabelled),
            "moved_split": len(self.moved_split),
            "examples": {
                "added": ex(self.added),
                "removed": ex(self.removed),
                "relabelled": ex(self.relabelled),
                "moved_split": ex(self.moved_split),
            },
            "label_counts": self.label_counts,
        }


def _manifest_or_none(path: Path) -> dict[str, Any] | None:
    return read_manifest(path) if (Path(path) / MANIFEST).is_file() else None


def _read_sentences(path: Path) -> pa.Table:
    manifest = _manifest_or_none(path)  # none yet while publish builds the new version
    parts = []
    for split in SPLITS:
        rel = (
            manifest["configs"]["sentences"]["files"].get(split)
            if manifest
            else f"sentences/{split}.parquet"
        )
        if rel is None or not (path / rel).is_file():
            continue  # an empty split
        t = pq.read_table(path / rel, columns=["id", "choice", "entities", "events"])
        parts.append(t.append_column("split", pa.array([split] * t.num_rows, pa.string())))
    return pa.concat_tables(parts)


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(*cols: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each row of the integer columns (splitmix64 rounds; wraps on purpose)."""
    h = np.full(len(cols[0]), _GOLDEN, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for c in cols:
            z = (h ^ c.astype(np.uint64)) + _GOLDEN
            z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            h = z ^ (z >> np.uint64(31))
    return h


def _ints(a: pa.Array) -> np.ndarray:
    return np.asarray(a.to_numpy(zero_copy_only=False), dtype=np.int64)


def _fingerprints(t: pa.Table, vocab: pa.Array) -> np.ndarray:
    """One 64-bit value per sentence summarising its labels: entities, events with their
    arguments, and the choice; order-independent (sums of row hashes), ids ignored."""
    n = t.num_rows

    def code(values: pa.Array) -> np.ndarray:
        return _ints(pc.fill_null(pc.index_in(values, value_set=vocab), -1))

    fp = np.zeros(n, dtype=np.uint64)
    ents_col = t["entities"].combine_chunks()
    ents = pc.list_flatten(ents_col)
    if len(ents):
        h = _mix(
            np.ones(len(ents), np.int64),
            _ints(pc.struct_field(ents, "start")),
            _ints(pc.struct_field(ents, "end")),
            code(pc.struct_field(ents, "label")),
        )
        np.add.at(fp, _ints(pc.list_parent_indices(ents_col)), h)
    evs_col = t["events"].combine_chunks()
    evs = pc.list_flatten(evs_col)
    if len(evs):
        args_col = pc.struct_field(evs, "arguments")
        args = pc.list_flatten(args_col)
        arg_sum = np.zeros(len(evs), dtype=np.uint64)
        if len(args):
            ha = _mix(
                np.full(len(args), 2, np.int64),
                code(pc.struct_field(args, "role")),
                _ints(pc.struct_field(args, "start")),
                _ints(pc.struct_field(args, "end")),
            )
            np.add.at(arg_sum, _ints(pc.list_parent_indices(args_col)), ha)
        trig = pc.struct_field(evs, "trigger")
        he = _mix(
            np.full(len(evs), 3, np.int64),
            _ints(pc.struct_field(trig, "start")),
            _ints(pc.struct_field(trig, "end")),
            code(pc.struct_field(evs, "event_type")),
            arg_sum,
        )
        np.add.at(fp, _ints(pc.list_parent_indices(evs_col)), he)
    return _mix(fp, code(t["choice"].combine_chunks()))


def _vocabulary(*tables: pa.Table) -> pa.Array:
    """Every label, event type, role and choice of the tables (one code space for both)."""
    parts = []
    for t in tables:
        ents = pc.list_flatten(t["entities"].combine_chunks())
        evs = pc.list_flatten(t["events"].combine_chunks())
        args = pc.list_flatten(pc.struct_field(evs, "arguments"))
        parts += [
            pc.struct_field(ents, "label"),
            pc.struct_field(evs, "event_type"),
            pc.struct_field(args, "role"),
            t["choice"].combine_chunks(),
        ]
    return pc.unique(pa.concat_arrays([p.cast(pa.string()) for p in parts]).drop_null())


def diff(old_path: Path, new_path: Path, new_version: str | None = None) -> DiffReport:
    """Sentences added, removed, relabelled (spans, events, roles or choice changed) and moved
    between splits from release `old_path` to `new_path`, and the label count changes.

    Vectorised (a million sentences per version in seconds): labels are compared through a
    64-bit fingerprint per sentence.
    """
    old_m = read_manifest(old_path)
    new_m = _manifest_or_none(new_path) or {"version": new_version or Path(new_path).name}
    old, new = _read_sentences(old_path), _read_sentences(new_path)
    old_ids, new_ids = old["id"].combine_chunks(), new["id"].combine_chunks()
    in_old = pc.index_in(new_ids, value_set=old_ids)  # position in old of each new sentence
    kept = pc.invert(in_old.is_null()).to_numpy(zero_copy_only=False)
    at_old = _ints(in_old.filter(pa.array(kept)))

    vocab = _vocabulary(old, new)
    changed = _fingerprints(new, vocab)[kept] != _fingerprints(old, vocab)[at_old]
    kept_ids = new_ids.filter(pa.array(kept))
    moved = pc.not_equal(
        new["split"].combine_chunks().filter(pa.array(kept)),
        pc.take(old["split"].combine_chunks(), pa.array(at_old)),
    )

    def sorted_ids(a: pa.Array) -> list[str]:
        return pc.take(a, pc.sort_indices(a)).to_pylist()

    before, after = label_counts(old), label_counts(new)
    changes: dict[str, dict[str, dict[str, int]]] = {}
    for kind in ("entities", "events", "roles", "choices"):
        labels = sorted(set(before[kind]) | set(after[kind]))
        changes[kind] = {
            lab: {
                "before": before[kind].get(lab, 0),
                "after": after[kind].get(lab, 0),
                "delta": after[kind].get(lab, 0) - before[kind].get(lab, 0),
            }
            for lab in labels
        }
    rep = DiffReport(
        old=old_m.get("version", str(old_path)),
        new=new_m.get("version", str(new_path)),
        added=sorted_ids(new_ids.filter(pa.array(~kept))),
        removed=sorted_ids(old_ids.filter(pc.invert(pc.is_in(old_ids, value_set=new_ids)))),
        relabelled=sorted_ids(kept_ids.filter(pa.array(changed))),
        moved_split=sorted_ids(kept_ids.filter(moved)),
        label_counts=changes,
    )
    if _newer(rep.old, rep.new):
        rep.warnings.append(
            f"{rep.old} is newer than {rep.new}: this shows what changed going back in time "
            f"(`corpus diff {rep.new} {rep.old}` for the usual direction)."
        )
    return rep


def _newer(a: str, b: str) -> bool:
    """Whether version `a` is newer than `b` (False when either is not a version)."""
    try:
        return version_key(a) > version_key(b)
    except ReleaseError:
        return False


# --- copy and push ------------------------------------------------------------------------------


def copy_release(path: Path, target: str) -> str:
    """Copy a verified release to `target`/VERSION on any fsspec filesystem; returns the URL.

    The manifest goes last, so an interrupted copy has none and fails `verify`; every file is
    read back and its sha256 checked. A partial copy (no manifest: an interrupted copy) is
    completed, keeping the files already written in full; a complete copy or a different
    release at that place is never overwritten.
    """
    import fsspec

    path = Path(path)
    rep = verify(path)
    if not rep.ok:
        raise ReleaseError(
            f"Release {path} does not verify: " + "; ".join(rep.problems[:5]),
            "A release that fails verification is never copied.",
        )
    manifest = read_manifest(path)
    version = manifest["version"]
    try:
        fs, root = fsspec.core.url_to_fs(target)
    except (ImportError, ValueError) as e:
        raise ReleaseError(
            f"Cannot open target {target}: {e}",
            "Install the fsspec backend for the protocol (e.g. s3fs for s3://).",
        ) from e
    dest = f"{root.rstrip('/')}/{version}"
    url = f"{target.rstrip('/')}/{version}"
    files = sorted(manifest["files"]) + [MANIFEST]
    try:
        if fs.exists(f"{dest}/{MANIFEST}"):
            with fs.open(f"{dest}/{MANIFEST}", "rb") as f:
                same = f.read() == (path / MANIFEST).read_bytes()
            if same:
                _check_copy(fs, dest, url, path, files)
                raise ReleaseError(
                    f"{url} already exists: a complete copy of this release (checksums verified).",
                    "Releases are immutable: the copy is left as it is.",
                )
            raise ReleaseError(
                f"{url} already exists and holds a different release.",
                "Releases are immutable: the copy is left as it is; copy to another target.",
            )
        if fs.exists(dest) and not fs.isdir(dest):
            raise ReleaseError(f"{url} exists and is not a folder.", "Choose another target.")
        for rel in files:
            remote = f"{dest}/{rel}"
            # A file an interrupted copy already wrote in full is kept; the rest is written.
            if (
                rel != MANIFEST
                and fs.exists(remote)
                and _remote_sha(fs, remote) == sha256_file(path / rel)
            ):
                continue
            fs.makedirs(remote.rsplit("/", 1)[0], exist_ok=True)
            fs.put_file(str(path / rel), remote)
        _check_copy(fs, dest, url, path, files)
        if _is_local(fs):
            make_read_only(Path(dest))  # a local copy is as read-only as the release
    except OSError as e:
        raise ReleaseError(
            f"Cannot write the copy to {url}: {e.strerror or e}.",
            "Check that the target is a writable folder (or bucket prefix).",
        ) from e
    return url


def _remote_sha(fs: Any, remote: str) -> str:
    import hashlib

    h = hashlib.sha256()
    with fs.open(remote, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _check_copy(fs: Any, dest: str, url: str, path: Path, files: list[str]) -> None:
    for rel in files:
        if _remote_sha(fs, f"{dest}/{rel}") != sha256_file(path / rel):
            raise ReleaseError(
                f"{url}/{rel}: the copy's sha256 differs from the release.",
                "Retry the copy: files that differ are written again.",
            )


def _is_local(fs: Any) -> bool:
    return "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))


def push_to_hub(
    path: Path, repo_id: str, *, token: str | None = None, private: bool = False
) -> str:
    """Upload a verified release to the Hugging Face Hub dataset repo `repo_id` and tag the
    commit with the version (so `load_dataset(repo_id, revision=VERSION)` pins it).

    Needs `huggingface_hub` and a token (HF_TOKEN or `huggingface-cli login`).
    """
    try:
        from huggingface_hub import HfApi
    except ImportError as e:
        raise ReleaseError(
            "--hub needs the huggingface_hub package.", "pip install huggingface_hub"
        ) from e
    path = Path(path)
    rep = verify(path)
    if not rep.ok:
        raise ReleaseError(f"Release {path} does not verify: " + "; ".join(rep.problems[:5]))
    version = read_manifest(path)["version"]
    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        refs = api.list_repo_refs(repo_id, repo_type="dataset")
        if any(t.name == version for t in refs.tags):
            raise ReleaseError(
                f"{repo_id} already has a tag {version}.",
                "Releases are immutable: publish a new version.",
            )
        commit = api.upload_folder(
            repo_id=repo_id,
            repo_type="dataset",
            folder_path=str(path),
            commit_message=f"Release {version}",
        )
        api.create_tag(
            repo_id,
            tag=version,
            repo_type="dataset",
            revision=getattr(commit, "oid", None),
            tag_message=f"corpus release {version}",
        )
    except ReleaseError:
        raise
    except Exception as e:  # noqa: BLE001 - network/auth errors from the Hub client
        raise ReleaseError(
            f"Pushing {version} to the Hub repo {repo_id} failed: {e}",
            "Check HF_TOKEN (or `huggingface-cli login`) and the repo name; the local release "
            f"is complete, retry with `corpus verify {version} --hub {repo_id}`.",
        ) from e
    return f"https://huggingface.co/datasets/{repo_id}/tree/{version}"
