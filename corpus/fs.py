"""Where workspace data lives: a local folder, or a location on any fsspec filesystem.

A local location is a `pathlib.Path`, used exactly as before; a URI (`s3://bucket/prefix`,
`gs://...`, `memory://...`) becomes a `upath.UPath`, which gives pathlib's API (`/`, `exists`,
`glob`, `open`) over fsspec, so code that handles stage files works on both unchanged. Parquet
goes through `corpus.io`, which reaches a UPath through its own fsspec filesystem. Credentials
come from the filesystem's usual environment (AWS_* variables for S3): nothing here stores them.
No pyarrow here: `corpus status` and `--help` stay light.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corpus.errors import CorpusError

if TYPE_CHECKING:
    from upath import UPath

    DataPath = Path | UPath
else:
    DataPath = Any  # a local Path or a UPath: see `data_path`


def is_uri(location: str | os.PathLike) -> bool:
    """Whether `location` names a non-local filesystem location (`file://` is local)."""
    if isinstance(location, Path):
        return False
    s = str(location)
    return "://" in s and not s.startswith("file://")


def is_remote(path: Any) -> bool:
    """Whether `path` is a UPath on a non-local filesystem (not a str, not a pathlib.Path)."""
    return not isinstance(path, str | Path) and hasattr(path, "fs")


def data_path(location: str | os.PathLike, base: Path | None = None) -> DataPath:
    """A local `Path` (a relative one under `base`), or a `UPath` for a URI such as `s3://b/x`.

    A scheme whose filesystem package is not installed (gs:// without gcsfs) is a CorpusError
    saying what to install.
    """
    if is_remote(location):
        return location
    s = str(location)
    if s.startswith("file://"):
        s = s[len("file://") :]
    if "://" not in s:
        p = Path(s).expanduser()
        return p if p.is_absolute() or base is None else base / p
    from upath import UPath  # imported here: only remote data needs fsspec's path layer

    try:
        p = UPath(s)
        p.fs  # noqa: B018 - makes the filesystem now, so a missing package shows here
    except ImportError:
        scheme = s.split("://", 1)[0]
        raise CorpusError(
            f"No filesystem for {s}: {scheme}:// needs a package that is not installed.",
            _install_hint(scheme),
        ) from None
    except ValueError as e:
        raise CorpusError(f"Not a usable data location: {s} ({e}).") from None
    global _last_remote
    _last_remote = s
    return p


def _install_hint(scheme: str) -> str:
    from fsspec.registry import known_implementations

    known = known_implementations.get(scheme, {})
    if known.get("err"):
        return f"{known['err']} (pip install it here, and on every Ray node)."
    return "Install the fsspec filesystem package for that scheme, or use a local folder."


def check_reachable(path: DataPath) -> None:
    """Raise a one-line CorpusError naming `path` unless its filesystem answers: credentials
    present, endpoint reachable, bucket (or container) existing. Local paths pass."""
    if not is_remote(path):
        return
    fs = path.fs
    try:
        if hasattr(fs, "split_path"):  # object stores (s3fs, gcsfs, adlfs): the bucket must exist
            bucket = fs.split_path(path.path)[0]
            try:
                fs.info(bucket)  # raises (unlike `exists`) when the endpoint does not answer
            except FileNotFoundError:
                raise CorpusError(
                    f"Bucket {bucket} of {path} does not exist.",
                    "Create it first, or fix `data` under [workspace] in corpus.toml.",
                ) from None
        else:
            fs.exists(path.path)
    except CorpusError:
        raise
    except Exception as e:  # noqa: BLE001 - each client has its own error classes
        raise remote_error(e, str(path)) or e from None


# Packages whose errors mean "the remote filesystem failed" (fsspec clients and their stacks).
_CLIENTS = {"botocore", "aiobotocore", "aiohttp", "s3fs", "gcsfs", "google", "adlfs", "azure"}
_NO_CREDENTIALS = {"NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError",
                   "DefaultCredentialsError", "ClientAuthenticationError"}  # fmt: skip
_UNREACHABLE = {"EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError",
                "ClientConnectorError", "ServerTimeoutError", "ConnectionError"}  # fmt: skip


def remote_error(e: BaseException, where: str | None = None) -> CorpusError | None:
    """A one-line CorpusError for a remote filesystem's failure (no credentials, unreachable,
    access denied), or None when `e` is not one. `where` names the location."""
    mro = type(e).__mro__
    names = {c.__name__ for c in mro}
    from_client = any(c.__module__.split(".")[0] in _CLIENTS for c in mro)
    where = where or _last_remote or "the remote data"
    if from_client and names & _NO_CREDENTIALS:
        return CorpusError(
            f"No credentials to reach {where}: {e}.",
            "Set them in the environment (for S3: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "or AWS_PROFILE; AWS_ENDPOINT_URL for an S3-compatible server).",
        )
    if from_client and names & _UNREACHABLE:
        return CorpusError(
            f"Cannot reach {where}: {e}.",
            "Check the network and the endpoint (for S3: AWS_ENDPOINT_URL, AWS_DEFAULT_REGION).",
        )
    # s3fs turns AccessDenied into a PermissionError without a file name (a local one has one).
    if (isinstance(e, PermissionError) and not e.filename) or (
        from_client and "AccessDenied" in str(e)
    ):
        return CorpusError(
            f"Access denied to {where}: {e}.",
            "Check that the credentials in the environment may read and write there.",
        )
    if from_client:
        return CorpusError(f"{where}: {e}.", "Check the location and the credentials.")
    return None


_last_remote: str | None = None  # the last remote data location opened, for error messages


def file_version(path: DataPath) -> dict[str, Any]:
    """What changes whenever the file at `path` is rewritten: its size and modification time
    locally; its size and the store's version tag (S3's ETag, else its timestamp) remotely."""
    if not is_remote(path):
        st = Path(path).stat()
        return {"bytes": st.st_size, "mtime_ns": st.st_mtime_ns}
    info = path.fs.info(path.path)
    tag = next(
        (info[k] for k in ("ETag", "etag", "LastModified", "mtime", "created") if info.get(k)),
        None,
    )
    return {"bytes": info.get("size"), "version": str(tag)}
