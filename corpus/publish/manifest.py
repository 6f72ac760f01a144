"""Release folder conventions: semantic versions, the manifest (a sha256 for every file) and the
card's file name. Shared by building (`build`) and reading (`release`) releases."""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from pathlib import Path
from typing import Any

from corpus.errors import ReleaseError

MANIFEST = "manifest.json"
CARD = "README.md"

# Matched whole (fullmatch): with `$`, "1.0.2\n" would pass as a second 1.0.2.
_SEMVER = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
)


# --- versions -----------------------------------------------------------------------------------


def is_version(value: object) -> bool:
    """Whether `value` is a whole semantic version string (no surrounding space or newline)."""
    return isinstance(value, str) and _SEMVER.fullmatch(value) is not None


def version_key(version: str) -> tuple:
    """Sort key of a semantic version (semver.org precedence; build metadata ignored)."""
    m = _SEMVER.fullmatch(version)
    if not m:
        raise ReleaseError(
            f"{version!r} is not a semantic version.",
            "Use MAJOR.MINOR.PATCH, e.g. 1.0.0 (optionally -rc.1); no leading 'v'.",
        )
    major, minor, patch, pre = int(m[1]), int(m[2]), int(m[3]), m[4]
    if pre is None:
        return (major, minor, patch, 1, ())
    ids = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return (major, minor, patch, 0, ids)


def list_versions(releases_dir: Path) -> list[str]:
    """Published versions in `releases_dir`, oldest first (temporary folders ignored)."""
    if not releases_dir.exists():
        return []
    out = [p.name for p in releases_dir.iterdir() if p.is_dir() and _SEMVER.fullmatch(p.name)]
    return sorted(out, key=version_key)


def previous_version(releases_dir: Path, version: str) -> str | None:
    """The newest published version older than `version`, if any."""
    key = version_key(version)
    older = [v for v in list_versions(releases_dir) if version_key(v) < key]
    return older[-1] if older else None


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_manifest(out: Path, info: dict[str, Any]) -> dict[str, Any]:
    """Write `manifest.json`: `info` plus the sha256 and size of every other file in `out`."""
    manifest = dict(info)
    manifest["files"] = {
        str(p.relative_to(out)): {"sha256": sha256_file(p), "bytes": p.stat().st_size}
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }
    (out / MANIFEST).write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return manifest


def read_manifest(path: Path) -> dict[str, Any]:
    mf = Path(path) / MANIFEST
    if not mf.is_file():
        raise ReleaseError(f"{path} has no {MANIFEST}: not a release (or an incomplete copy).")
    try:
        return json.loads(mf.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ReleaseError(f"{mf} is not valid JSON ({e}).") from e


_WRITE = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH


def make_read_only(root: Path) -> None:
    """Clear the write bits of every file and folder under `root` (and `root`): a published
    release is not edited by accident (root can still write; `verify` catches that)."""
    root = Path(root)
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in [*filenames, *dirnames]:
            p = Path(dirpath) / name
            p.chmod(p.stat().st_mode & ~_WRITE)
    root.chmod(root.stat().st_mode & ~_WRITE)


def make_writable(root: Path) -> None:
    """Give the owner write access again (to delete a copy or a failed build)."""
    root = Path(root)
    root.chmod(root.stat().st_mode | stat.S_IWUSR)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            p = Path(dirpath) / name
            p.chmod(p.stat().st_mode | stat.S_IWUSR)
