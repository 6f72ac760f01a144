"""`corpus --help` and `corpus status` stay fast: they load no heavy library (issue 11, item 15).

Asserted on the modules a real `corpus` process loaded, not on wall time (machines differ)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from corpus.footer import parquet_num_rows
from corpus.workspace import Workspace

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("pyarrow", "numpy", "pandas", "yaml", "httpx", "datasketch", "scipy", "datasets", "fsspec")

PROBE = """
import json, sys
from corpus.cli import main
try:
    main(sys.argv[1:])
except SystemExit as e:
    code = e.code
else:
    code = 0
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(%r))
print(json.dumps({"code": code, "heavy": heavy}), file=sys.stderr)
"""


def loaded(*args: str) -> dict:
    """Run `corpus ARGS` in a fresh interpreter; report its exit code and heavy modules loaded."""
    r = subprocess.run(
        [sys.executable, "-c", PROBE % (HEAVY,), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=REPO,
        timeout=120,
    )
    return json.loads(r.stderr.strip().splitlines()[-1])


@pytest.mark.parametrize("args", [["--help"], ["pull", "--help"], ["segment", "--help"]])
def test_help_loads_no_heavy_library(args):
    got = loaded(*args)
    assert got == {"code": 0, "heavy": []}


def test_status_loads_no_heavy_library(tmp_path):
    ws = Workspace.init(tmp_path / "ws")
    pq.write_table(pa.table({"article_id": ["a", "b", "c"], "text": ["x", "y", "z"]}),
                   ws.articles_path)  # fmt: skip
    got = loaded("status", "-w", str(ws.root))
    assert got == {"code": 0, "heavy": []}


def test_footer_row_count_matches_pyarrow(tmp_path):
    cases = {
        "empty": pa.table({"a": pa.array([], pa.int64())}),
        "nested": pa.table(
            {
                "id": [str(i) for i in range(5000)],
                "spans": [[{"s": i, "l": "PER"}] * (i % 3) for i in range(5000)],
                "flag": [i % 2 == 0 for i in range(5000)],
            }
        ),  # fmt: skip
    }
    for name, table in cases.items():
        path = tmp_path / f"{name}.parquet"
        pq.write_table(table, path, row_group_size=700, compression="zstd")
        assert parquet_num_rows(path) == pq.ParquetFile(path).metadata.num_rows == table.num_rows
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 definitely not parquet PAR1")
    with pytest.raises(ValueError):
        parquet_num_rows(bad)


def test_status_shows_a_damaged_file_as_unreadable(tmp_path, capsys):
    import corpus.cli

    ws = Workspace.init(tmp_path / "ws")
    ws.articles_path.write_bytes(b"garbage")
    corpus.cli.main(["status", "-w", str(ws.root)])
    assert "unreadable" in capsys.readouterr().out
