"""One runner for every stage's batch function: all local cores by default, Ray Data for clusters.

A stage is a pure function `pyarrow.Table -> pyarrow.Table` (or a class made once per worker that
is called like one: a model-backed stage loads its resource in `__init__`, Ray's class-UDF shape).
The runner only moves batches:

- `local` (default): a process pool over batches, `workers` processes (default: all cores).
  Batches are cut by row count, never by worker count, and results are taken back in input order,
  so the output is the same whatever the number of workers (same rows, order, ids, and
  byte-identical Parquet).
- `ray`: Ray Data `read_parquet -> map_batches(fn, batch_format="pyarrow")`, joining the
  cluster at `ray_address` (or `RAY_ADDRESS`), else starting a local one; results come back in
  input order (`preserve_order`) and are written like the local engine's, so the two are equal
  row by row. A joined cluster's workers get this process's `corpus` package (Ray's runtime
  environment), so they run the driver's code whatever is installed on the nodes.

Paths may be local paths or URIs on any pyarrow/fsspec filesystem (`s3://...`, `gs://...`,
`file://...`, `memory://...`); a cluster needs a filesystem every node can reach.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import sys
import tempfile
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow as pa

from corpus.errors import CorpusError
from corpus.io import ParquetSink, filesystem, parquet_file

ENGINES = ("local", "ray")
IN_FLIGHT = 2  # batches queued per worker: keeps workers busy, memory bounded


def cpu_count() -> int:
    """Cores this process may use (the affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class Stage:
    """A batch function with its options, or a class instantiated once per worker.

    `fn` is a function (called as `fn(table, **kwargs)`) or a class (made as `fn(**kwargs)`, then
    called with each table). Everything must pickle: workers receive it.
    """

    fn: Callable[..., Any]
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def is_class(self) -> bool:
        return isinstance(self.fn, type)

    def make(self) -> Callable[[pa.Table], pa.Table]:
        if self.is_class:
            return self.fn(**self.kwargs)
        return partial(self.fn, **self.kwargs) if self.kwargs else self.fn

    @property
    def name(self) -> str:
        return getattr(self.fn, "__qualname__", repr(self.fn))


@dataclass(frozen=True)
class Engine:
    """Where batches run: `kind` "local" (process pool) or "ray"."""

    kind: str = "local"
    workers: int | None = None  # None: all cores (local) / as many as the cluster gives (ray)
    ray_address: str | None = None  # None: RAY_ADDRESS, else a local Ray

    def __post_init__(self) -> None:
        if self.kind not in ENGINES:
            raise CorpusError(
                f"Unknown engine {self.kind!r}.", f"Use one of: {', '.join(ENGINES)}."
            )
        if self.workers is not None and self.workers < 1:
            raise CorpusError(f"--workers must be at least 1, not {self.workers}.")

    @property
    def n_workers(self) -> int:
        return self.workers or cpu_count()

    def describe(self) -> str:
        if self.kind == "ray":
            where = self.ray_address or os.environ.get("RAY_ADDRESS") or "a local Ray"
            return f"ray ({where})"
        n = self.n_workers
        return f"local, {n} worker{'s' if n != 1 else ''}"


# --- filesystems ---------------------------------------------------------------------------------


def read_batches(
    uri: str | Path, columns: list[str] | None = None, batch_rows: int = 4096
) -> Iterator[pa.Table]:
    """A Parquet file as tables of `batch_rows` rows (cut by rows only: the same for everyone)."""
    for b in parquet_file(uri).iter_batches(batch_size=batch_rows, columns=columns):
        yield pa.Table.from_batches([b])


# --- the local engine ----------------------------------------------------------------------------

_WORKER_FN: Callable[[pa.Table], pa.Table] | None = None


def _init_worker(stage: Stage) -> None:
    global _WORKER_FN
    _WORKER_FN = stage.make()  # once per worker: a model loads here, not per batch


def _run_batch(table: pa.Table) -> pa.Table:
    assert _WORKER_FN is not None
    return _WORKER_FN(table)


def _ray_driver_here() -> bool:
    ray = sys.modules.get("ray")  # never imported here just to ask
    return ray is not None and getattr(ray, "is_initialized", lambda: False)()


def _pool_map(stage: Stage, tables: Iterable[pa.Table], workers: int) -> Iterator[pa.Table]:
    global _WORKER_FN
    if "fork" in mp.get_all_start_methods() and not _ray_driver_here():
        # fork: the stage is made once here (a model loads once) and every worker inherits it,
        # starting in milliseconds. (Stages still pickle: Ray and spawn need that.)
        ctx = mp.get_context("fork")
        _WORKER_FN = stage.make()
        init: dict[str, Any] = {}
    else:
        # A forked copy of a Ray driver shares its sockets and half its threads, and has crashed
        # the driver; forkserver children start clean (the stage is pickled to them instead).
        ctx = mp.get_context("forkserver") if "forkserver" in mp.get_all_start_methods() else None
        init = {"initializer": _init_worker, "initargs": (stage,)}
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, **init)
    window: deque[Future] = deque()
    try:
        for t in tables:
            window.append(pool.submit(_run_batch, t))
            if len(window) >= IN_FLIGHT * workers:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        _WORKER_FN = None


# --- the Ray engine ------------------------------------------------------------------------------


JOIN_TIMEOUT_S = 10  # how long joining a cluster may take before it is an error


def ray_session(engine: Engine) -> Any:
    """The `ray` module, connected as `engine` says (joined, or a local Ray), or a clear error."""
    try:
        import ray  # optional extra: only `--engine ray` needs it (and it takes seconds to load)
        import ray.data  # noqa: F401
    except ImportError:
        raise CorpusError(
            "--engine ray needs Ray, which is not installed.",
            "Install the extra: pip install 'corpus[ray]'.",
        ) from None
    if not ray.is_initialized():
        address = engine.ray_address or os.environ.get("RAY_ADDRESS") or None
        if address in (None, "local"):
            ray.init(address=address, **_RAY_QUIET)
        else:
            _join(ray, address)
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True  # the local engine's order, row by row
    ctx.enable_progress_bars = False  # the command shows its own progress
    # Ray Data logs each dataset's plan and timing on stderr (kept in the cluster's log files),
    # and warns that its progress bars are off: only its real warnings reach the command's user.
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)
    # A small input is one block: Ray Data then warns that the model actors will not all work.
    warnings.filterwarnings("ignore", "The minimum number of concurrent actors", UserWarning)
    return ray


_RAY_QUIET: dict[str, Any] = {
    "log_to_driver": False,  # workers' logs stay in the cluster's log files
    "include_dashboard": False,
    "logging_level": "WARNING",  # not Ray's "Connecting to..." lines between the command's own
}


def _join(ray: Any, address: str) -> None:
    """Connect this process to the cluster at `address` as its driver, or a one-line error.

    The workers get this process's `corpus` package through Ray's runtime environment
    (`py_modules`): the nodes need its dependencies (`pip install 'corpus[ray]'`), not this
    checkout, and always run the driver's code.
    """
    hint = "Check --ray-address / RAY_ADDRESS: the head's HOST:PORT (`ray start --head` prints it)."
    _reachable(address, hint)
    # Ray retries a refused join (a missing token) once a second for 20 s: bounded here (the
    # user's own setting wins).
    os.environ.setdefault("RAY_gcs_server_port_wait_time_s", str(JOIN_TIMEOUT_S))
    # The driver's C++ core logs Ray Data's routine model-actor set-up as an error (ray issue
    # 53727); its real failures reach the command as exceptions.
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    package = str(Path(__file__).resolve().parent)
    env = {"py_modules": [package], "excludes": ["__pycache__", "*.pyc"]}
    try:
        with _stderr_aside():
            ray.init(address=address, runtime_env=env, **_RAY_QUIET)
    except (ConnectionError, RuntimeError, ValueError) as e:
        chain = f"{e} {e.__cause__}"
        if "Unauthenticated" in chain or "AuthToken" in chain:
            raise CorpusError(
                f"The Ray cluster at {address} refused this command: it needs its token.",
                "Set RAY_AUTH_MODE=token and the cluster's token (RAY_AUTH_TOKEN, "
                "RAY_AUTH_TOKEN_PATH, or ~/.ray/auth_token; `ray get-auth-token` on the head).",
            ) from None
        raise CorpusError(f"Cannot join the Ray cluster at {address} ({e}).", hint) from None


@contextmanager
def _stderr_aside() -> Iterator[None]:
    """Ray's C++ client writes a warning per failed try straight to file descriptor 2: while
    joining, that goes to a scratch file instead, and the command says what failed in one line."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all: nothing to keep clean
        yield
        return
    try:
        with tempfile.TemporaryFile() as scratch:
            os.dup2(scratch.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)


_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
_H2_SETTINGS = 4  # the frame type every HTTP/2 (gRPC) server sends first


def _reachable(address: str, hint: str) -> None:
    """Fail fast unless a gRPC server (as a Ray head is) answers at a HOST:PORT address.

    Ray itself waits up to ~40 s per try, ten times, on an address where nothing or something
    else (a web server, the dashboard) listens.
    """
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return  # "auto" and other forms: Ray resolves them
    import socket

    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=5) as conn:
            conn.sendall(_H2_PREFACE)
            head = conn.recv(9)
    except OSError as e:
        raise CorpusError(
            f"No Ray cluster answers at {address} ({e.strerror or e}).", hint
        ) from None
    if len(head) < 9 or head[3] != _H2_SETTINGS:
        raise CorpusError(f"What answers at {address} is not a Ray cluster's head.", hint)


def _ray_map(
    stage: Stage,
    source: str | Path,
    columns: list[str] | None,
    batch_rows: int,
    engine: Engine,
) -> Iterator[pa.Table]:
    ray = ray_session(engine)
    fs, path = filesystem(source)
    # Model actors leave one CPU free: Ray Data's file listing and reads need it, and a pool
    # holding every CPU would wait for them forever.
    ds = ray.data.read_parquet(path, filesystem=fs, num_cpus=0.5)
    if columns:
        ds = ds.select_columns(columns)  # Ray pushes the projection into the read
    options: dict[str, Any] = {"batch_format": "pyarrow", "batch_size": batch_rows}
    if stage.is_class:
        # Ray's class UDF: each actor makes the stage (loads its model) once.
        cpus = float(ray.cluster_resources().get("CPU", 1))
        n = engine.workers or max(1, int(cpus))
        options["fn_constructor_kwargs"] = stage.kwargs
        options["compute"] = ray.data.ActorPoolStrategy(size=n)
        options["num_cpus"] = max(0.1, min(1.0, (cpus - 1) / n))
        ds = ds.map_batches(stage.fn, **options)
    else:
        ds = ds.map_batches(stage.make(), **options)
    # Results stream back in input order (preserve_order) and the driver writes the one
    # workspace file. Not `write_parquet`: pyarrow's threaded dataset writer that Ray uses
    # reorders the batches inside each file it writes, and every file would be read back anyway.
    for table in ds.iter_batches(batch_format="pyarrow", batch_size=None):
        if table.num_rows:
            yield table


# --- the one entry point -------------------------------------------------------------------------


def map_parquet(
    stage: Stage | Callable[[pa.Table], pa.Table],
    source: str | Path,
    *,
    columns: list[str] | None = None,
    batch_rows: int = 4096,
    engine: Engine | None = None,
) -> Iterator[pa.Table]:
    """`stage` over every batch of the Parquet file `source`: output tables, in input order."""
    stage = stage if isinstance(stage, Stage) else Stage(stage)
    engine = engine or Engine()
    if engine.kind == "ray":
        yield from _ray_map(stage, source, columns, batch_rows, engine)
        return
    yield from map_tables(stage, read_batches(source, columns, batch_rows), engine=engine)


def map_tables(
    stage: Stage | Callable[[pa.Table], pa.Table],
    tables: Iterable[pa.Table],
    *,
    engine: Engine | None = None,
    staging: str | os.PathLike | None = None,
    schema: pa.Schema | None = None,
) -> Iterator[pa.Table]:
    """`stage` over tables made by the driver (e.g. records read from a source), in order.

    With Ray the tables are first written to `staging` (a Parquet file every node can read;
    `schema` is its schema) and run as `map_parquet`.
    """
    stage = stage if isinstance(stage, Stage) else Stage(stage)
    engine = engine or Engine()
    if engine.kind == "ray":
        if staging is None:
            raise ValueError("the ray engine needs a staging location for driver-made tables")
        it = iter(tables)
        first = next(it, None)
        if first is None:
            return
        # A str is a path or URI; a Path or UPath (a workspace's data) keeps its own client.
        src = (
            staging.rstrip("/") + "/input.parquet"
            if isinstance(staging, str)
            else staging / "input.parquet"
        )
        with ParquetSink(src, schema or first.schema, compression="none") as sink:
            sink.write(first)
            for t in it:
                sink.write(t)
        try:
            yield from map_parquet(stage, src, batch_rows=max(first.num_rows, 1), engine=engine)
        finally:
            fs, path = filesystem(staging)
            try:
                fs.delete_dir(path)
            except OSError:
                pass
        return
    yield from _pool_map(stage, tables, engine.n_workers)
