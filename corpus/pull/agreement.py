"""Inter-annotator agreement from pulled annotations (Label Studio OSS computes none).

Only independent work counts: each annotator's newest non-cancelled annotation per sentence;
review decisions and rows built by adjudication are left out.

- Span F1 per label, exact (same start and end) and overlap (one-to-one matching of overlapping
  spans), pooled over every pair of annotators and every sentence they share:
  ``F1 = 2·matched / (spans of a + spans of b)``.
- Sentence choice and trigger type, as categorical ratings: Cohen's kappa per pair of annotators,
  Fleiss' kappa (generalised to a varying number of raters per item) and Krippendorff's alpha
  (nominal) across everybody. A trigger-type item is a group of overlapping trigger spans in a
  sentence; an annotator with no trigger in the group rates it ``none``.
- Per annotator: volume (annotations, skipped, sentences) and speed (lead time).
"""

from __future__ import annotations

import itertools
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from corpus.pull.adjudication import MAJORITY_ANNOTATOR, is_review_decision

NONE = "none"  # the rating of an annotator who marked no trigger in a group


# --- coefficients ---------------------------------------------------------------------------


def cohen_kappa(a: Sequence[str], b: Sequence[str]) -> float | None:
    """Cohen's kappa of two raters over the same items (None when undefined: chance is 1)."""
    if len(a) != len(b):
        raise ValueError("both raters must rate the same items")
    n = len(a)
    if n == 0:
        return None
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    ca, cb = Counter(a), Counter(b)
    expected = sum(ca[k] * cb[k] for k in ca) / (n * n)
    if expected == 1:
        return None
    return (observed - expected) / (1 - expected)


def fleiss_kappa(items: Iterable[Sequence[str]]) -> float | None:
    """Fleiss' kappa over items each rated by two or more raters (counts may vary per item)."""
    rated = [Counter(r) for r in items if len(r) >= 2]
    if not rated:
        return None
    agreement = []
    totals: Counter = Counter()
    for counts in rated:
        m = sum(counts.values())
        agreement.append((sum(c * c for c in counts.values()) - m) / (m * (m - 1)))
        totals.update(counts)
    n = sum(totals.values())
    chance = sum((c / n) ** 2 for c in totals.values())
    if chance == 1:
        return None
    return (statistics.fmean(agreement) - chance) / (1 - chance)


def krippendorff_alpha(items: Iterable[Sequence[str]]) -> float | None:
    """Krippendorff's alpha, nominal, from the coincidence matrix (missing ratings allowed)."""
    coincidence: Counter = Counter()
    for ratings in items:
        m = len(ratings)
        if m < 2:
            continue  # a unit rated once carries no pairable value
        for i, j in itertools.permutations(range(m), 2):
            coincidence[ratings[i], ratings[j]] += 1 / (m - 1)
    marginals: Counter = Counter()
    for (c, _), v in coincidence.items():
        marginals[c] += v
    n = sum(marginals.values())
    if n <= 1:
        return None
    disagree = sum(v for (c, k), v in coincidence.items() if c != k)
    expected = sum(marginals[c] * marginals[k] for c in marginals for k in marginals if c != k)
    if expected == 0:
        return None
    return 1 - (n - 1) * disagree / expected


# --- spans ------------------------------------------------------------------------------------

SpanKey = tuple[int, int, str]  # start, end, label


def _overlap_matches(a: list[SpanKey], b: list[SpanKey]) -> int:
    """One-to-one matches between overlapping spans (both sorted, same label)."""
    used = [False] * len(b)
    matched = 0
    for s, e, _ in a:
        for j, (s2, e2, _) in enumerate(b):
            if not used[j] and s < e2 and s2 < e:
                used[j] = True
                matched += 1
                break
    return matched


@dataclass(slots=True)
class _Tally:
    exact: int = 0
    overlap: int = 0
    total: int = 0  # spans of a + spans of b

    def add(self, a: list[SpanKey], b: list[SpanKey]) -> None:
        self.exact += len(set(a) & set(b))
        self.overlap += _overlap_matches(sorted(a), sorted(b))
        self.total += len(a) + len(b)

    def as_dict(self) -> dict[str, Any]:
        def f1(matched: int) -> float | None:
            return round(2 * matched / self.total, 4) if self.total else None

        return {"f1_exact": f1(self.exact), "f1_overlap": f1(self.overlap), "spans": self.total}


def _spans(row: dict) -> dict[tuple[str, str], list[SpanKey]]:
    out: dict[tuple[str, str], list[SpanKey]] = defaultdict(list)
    for e in row["entities"]:
        out["entity", e["label"]].append((e["start"], e["end"], e["label"]))
    for t in row["triggers"]:
        out["trigger", t["event_type"]].append((t["start"], t["end"], t["event_type"]))
    return out


def trigger_items(rows: list[dict]) -> list[list[str]]:
    """Trigger-type ratings of one sentence: one item per group of overlapping trigger spans,
    one rating per annotator (its event type in the group, or "none")."""
    spans = sorted(
        (t["start"], t["end"], i, t["event_type"])
        for i, r in enumerate(rows)
        for t in r["triggers"]
    )
    groups: list[list[tuple]] = []
    end = -1
    for s in spans:
        if groups and s[0] < end:
            groups[-1].append(s)
            end = max(end, s[1])
        else:
            groups.append([s])
            end = s[1]
    items = []
    for g in groups:
        first: dict[int, str] = {}
        for _, _, who, etype in g:
            first.setdefault(who, etype)
        items.append([first.get(i, NONE) for i in range(len(rows))])
    return items


# --- the report -------------------------------------------------------------------------------


def _independent(annotations: pa.Table) -> list[dict]:
    return [
        r
        for r in annotations.to_pylist()
        if not is_review_decision(r) and r["annotator"] != MAJORITY_ANNOTATOR
    ]


def _newest(rows: list[dict]) -> dict[str, dict[str, dict]]:
    """sentence_id -> annotator -> newest non-cancelled row."""
    out: dict[str, dict[str, dict]] = defaultdict(dict)
    for r in rows:
        if r["cancelled"]:
            continue
        cur = out[r["sentence_id"]].get(r["annotator"])
        key = (r["updated_at"] or r["created_at"], r["annotation_id"])
        if cur is None or key > (cur["updated_at"] or cur["created_at"], cur["annotation_id"]):
            out[r["sentence_id"]][r["annotator"]] = r
    return out


def annotator_stats(rows: list[dict]) -> list[dict[str, Any]]:
    """Volume and speed per annotator (all annotations, skipped ones counted apart)."""
    by: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by[r["annotator"]].append(r)
    out = []
    for who, rs in sorted(by.items()):
        # Speed from submitted work; time spent before skipping still counts in `hours`.
        leads = [r["lead_time"] for r in rs if r["lead_time"] is not None and not r["cancelled"]]
        mean = statistics.fmean(leads) if leads else None
        spent = sum(r["lead_time"] for r in rs if r["lead_time"] is not None)
        out.append(
            {
                "annotator": who,
                "annotations": sum(not r["cancelled"] for r in rs),
                "skipped": sum(r["cancelled"] for r in rs),
                "sentences": len({r["sentence_id"] for r in rs}),
                "median_seconds": round(statistics.median(leads), 2) if leads else None,
                "mean_seconds": round(mean, 2) if mean is not None else None,
                "per_hour": round(3600 / mean, 1) if mean else None,
                "hours": round(spent / 3600, 3),
            }
        )
    return out


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def agreement_report(annotations: pa.Table) -> dict[str, Any]:
    """Everything `corpus agreement` prints, as a JSON-ready dict."""
    rows = _independent(annotations)
    newest = _newest(rows)
    shared = {sid: by for sid, by in newest.items() if len(by) >= 2}

    labels: dict[tuple[str, str], _Tally] = defaultdict(_Tally)
    pairs: dict[tuple[str, str], dict[str, Any]] = {}
    choice_items: list[list[str]] = []
    trigger_all: list[list[str]] = []
    for sid in sorted(shared):
        by = shared[sid]
        who = sorted(by)
        choice_items.append([by[a]["choice"] for a in who if by[a]["choice"] is not None])
        trigger_all.extend(trigger_items([by[a] for a in who]))
        for a, b in itertools.combinations(who, 2):
            p = pairs.setdefault(
                (a, b),
                {"sentences": 0, "choices": ([], []), "triggers": ([], []), "spans": _Tally()},
            )
            p["sentences"] += 1
            ca, cb = by[a]["choice"], by[b]["choice"]
            if ca is not None and cb is not None:
                p["choices"][0].append(ca)
                p["choices"][1].append(cb)
            for ta, tb in trigger_items([by[a], by[b]]):
                p["triggers"][0].append(ta)
                p["triggers"][1].append(tb)
            sa, sb = _spans(by[a]), _spans(by[b])
            for key in sa.keys() | sb.keys():
                labels[key].add(sa.get(key, []), sb.get(key, []))
                p["spans"].add(sa.get(key, []), sb.get(key, []))

    overall = _Tally()
    for t in labels.values():
        overall.exact += t.exact
        overall.overlap += t.overlap
        overall.total += t.total
    return {
        "sentences_annotated": len(newest),
        "sentences_multiply_annotated": len(shared),
        "annotators": annotator_stats(rows),
        "span_f1": {
            "overall": overall.as_dict(),
            "labels": [
                {"kind": kind, "label": label, **labels[kind, label].as_dict()}
                for kind, label in sorted(labels)
            ],
        },
        "choice": {
            "items": len([i for i in choice_items if len(i) >= 2]),
            "fleiss_kappa": _round(fleiss_kappa(choice_items)),
            "krippendorff_alpha": _round(krippendorff_alpha(choice_items)),
        },
        "trigger_type": {
            "items": len(trigger_all),
            "fleiss_kappa": _round(fleiss_kappa(trigger_all)),
            "krippendorff_alpha": _round(krippendorff_alpha(trigger_all)),
        },
        "pairs": [
            {
                "annotators": [a, b],
                "sentences": p["sentences"],
                "choice_cohen_kappa": _round(cohen_kappa(*p["choices"])),
                "trigger_cohen_kappa": _round(cohen_kappa(*p["triggers"])),
                **{f"span_{k}": v for k, v in p["spans"].as_dict().items()},
            }
            for (a, b), p in sorted(pairs.items())
        ],
    }
