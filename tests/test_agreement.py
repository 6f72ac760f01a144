"""Agreement coefficients checked against established implementations and by hand.

Reference values were computed once with scikit-learn 1.x `cohen_kappa_score`, statsmodels
`fleiss_kappa` and the `krippendorff` package in a throwaway environment, and are hard-coded here;
the published examples (Wikipedia's Fleiss table, Krippendorff's 4x12 reliability data) agree.
"""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pullkit import V1, VOCAB, write_sentences

from corpus.pull.agreement import (
    agreement_report,
    cohen_kappa,
    fleiss_kappa,
    krippendorff_alpha,
    trigger_items,
)
from corpus.pull.parse import pull_snapshot
from corpus.workspace import Workspace

H, N, Z = "has-event", "no-event", "noise"


def test_cohen_kappa_matches_sklearn():
    a = [H, H, N, Z, N, H, N, H, Z, N, H, H]
    b = [H, N, N, Z, H, H, N, H, N, N, H, Z]
    assert cohen_kappa(a, b) == pytest.approx(0.4666666666666667)  # sklearn


def test_cohen_kappa_edge_cases():
    assert cohen_kappa([], []) is None
    assert cohen_kappa([H, H], [H, H]) is None  # chance agreement is 1: undefined
    assert cohen_kappa([H, N], [N, H]) == pytest.approx(-1.0)
    with pytest.raises(ValueError):
        cohen_kappa([H], [H, N])


def expand(counts):
    """Item ratings from a row of category counts."""
    return [str(c) for c, n in enumerate(counts) for _ in range(n)]


def test_fleiss_kappa_published_example():
    table = [
        [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
    ]  # fmt: skip
    assert fleiss_kappa([expand(r) for r in table]) == pytest.approx(0.20993070442195522)


CHOICES_3 = [[H, H, N], [Z, Z, Z], [N, H, N], [H, H, H], [N, Z, H], [N, N, N]]


def test_fleiss_and_alpha_on_choices_match_statsmodels_and_krippendorff():
    assert fleiss_kappa(CHOICES_3) == pytest.approx(0.4)  # statsmodels
    assert krippendorff_alpha(CHOICES_3) == pytest.approx(0.43333333333333335)  # krippendorff


def test_krippendorff_alpha_with_missing_ratings_published_example():
    data = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
        [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
    ]
    units = [[str(r[u]) for r in data if r[u] is not None] for u in range(12)]
    assert krippendorff_alpha(units) == pytest.approx(0.743421052631579)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.sampled_from([H, N, Z]), min_size=2, max_size=2), min_size=1))
def test_property_two_raters_perfect_agreement_and_bounds(items):
    a, b = [i[0] for i in items], [i[1] for i in items]
    k = cohen_kappa(a, b)
    if k is not None:
        assert -1 - 1e-9 <= k <= 1 + 1e-9
        assert (k == pytest.approx(1.0)) == (a == b)
    f = fleiss_kappa(items)
    alpha = krippendorff_alpha(items)
    if f is not None and alpha is not None:
        assert f <= 1 + 1e-9 and alpha <= 1 + 1e-9
        # With two raters and no missing data, alpha = kappa-like with a small-sample correction.
        n = 2 * len(items)
        assert alpha == pytest.approx(1 - (n - 1) / n * (1 - f))


def test_trigger_items_group_overlapping_spans():
    def row(*trigs):
        return {"triggers": [{"start": s, "end": e, "event_type": t} for s, e, t in trigs]}

    a = row((0, 4, "Attack"), (10, 15, "Die"))
    b = row((0, 6, "Attack"), (20, 25, "Die"))
    c = row((2, 5, "Move"))
    assert trigger_items([a, b, c]) == [
        ["Attack", "Attack", "Move"],
        ["Die", "none", "none"],
        ["none", "Die", "none"],
    ]


def test_report_on_fixture_export(tmp_path):
    """Hand-computed: two sentences shared by the two annotators of export_v1.json."""
    ws = Workspace.init(tmp_path / "ws")
    write_sentences(ws)
    pull_snapshot(ws, V1, 7, vocab=VOCAB)
    report = agreement_report(pq.read_table(ws.annotations_path))
    json.dumps(report)  # JSON-ready
    assert report["sentences_annotated"] == 4
    assert report["sentences_multiply_annotated"] == 2
    labels = {(x["kind"], x["label"]): x for x in report["span_f1"]["labels"]}
    assert labels["entity", "ORG"]["f1_exact"] == 1.0  # 2 matched of 2+2
    assert labels["entity", "GPE"]["f1_exact"] == pytest.approx(0.6667)  # 1 of 2+1
    assert labels["entity", "LOC"]["f1_exact"] == 0.0
    assert labels["trigger", "Life.Die"]["f1_exact"] == pytest.approx(0.6667)
    assert report["span_f1"]["overall"] == {"f1_exact": 0.75, "f1_overlap": 0.75, "spans": 16}
    # Trigger items: (Attack, Attack), (Life.Die, none), (Life.Die, Life.Die).
    assert report["trigger_type"] == {
        "items": 3,
        "fleiss_kappa": pytest.approx(0.4545, abs=1e-4),  # (2/3 - 14/36) / (1 - 14/36)
        "krippendorff_alpha": pytest.approx(0.5455, abs=1e-4),  # 1 - 5 * 2 / 22
    }
    (pair,) = report["pairs"]
    assert pair["sentences"] == 2
    assert pair["trigger_cohen_kappa"] == 0.5  # (2/3 - 1/3) / (1 - 1/3)
    assert pair["choice_cohen_kappa"] is None  # both chose has-event twice: undefined
    stats = {s["annotations"]: s for s in report["annotators"]}
    one, two = stats[4], stats[2]
    assert (one["skipped"], one["sentences"], one["median_seconds"]) == (0, 4, 25.0)
    assert one["mean_seconds"] == 25.12 and one["per_hour"] == pytest.approx(143.3)
    assert (two["skipped"], two["sentences"], two["mean_seconds"]) == (1, 3, 65.0)
    assert two["hours"] == pytest.approx(135 / 3600, abs=1e-3)


def test_overlap_f1_counts_boundary_disagreements():
    from corpus.pull.agreement import _Tally

    t = _Tally()
    t.add([(0, 5, "PER"), (10, 12, "PER")], [(0, 6, "PER"), (11, 14, "PER"), (20, 22, "PER")])
    assert t.as_dict() == {"f1_exact": 0.0, "f1_overlap": 0.8, "spans": 5}
