"""`corpus report`: a self-contained HTML page of the figures a lead looks at, with plots.

Every plot is a matplotlib figure rendered to PNG and embedded in the page as base64, so the page
needs no network and no other file when it is opened (or mailed). The same PNGs are written
beside it. `publish` writes the report of each release into `releases/VERSION/report/` and the
card shows the main plots.

Figures, and what they are computed from:

- labels per split: entity labels and event types per split of the release (its label counts);
- sentences and events per source, and per month of publication: the release's sentences joined
  with their articles' `source` and `published_at`;
- agreement per label: exact-span F1 between annotators (`corpus.pull.agreement`) on the
  sentences annotated by two or more (a fixed sample of at most `SAMPLE` of them);
- pre-label acceptance per label and per pre-labeler version (`corpus.pull.quality`: accepted,
  changed, deleted) on a fixed sample of at most `SAMPLE` pre-labelled sentences;
- annotator throughput: annotations submitted per annotator per day;
- the learning curve of the newest trained model (`corpus train --curve` stores it in the model
  card), or a note when no model or no curve was recorded.

Nothing in the page depends on the time it was made, so the same inputs give the same page.
"""

from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from corpus.io import read_table
from corpus.publish.splits import SPLITS
from corpus.workspace import Workspace

SAMPLE = 3000  # sentences for the agreement and acceptance figures (ids are content hashes)
REPORT_DIR = "report"
PAGE = "index.html"
# The plots the release folder carries as PNG files and the card shows (the page has them all).
MAIN_PLOTS = ("labels_per_split", "per_source", "agreement_per_label", "prelabel_acceptance")


@dataclass
class Plot:
    name: str  # file stem
    title: str
    png: bytes | None  # None: nothing to draw, `note` says why
    note: str = ""


@dataclass
class Report:
    title: str
    plots: list[Plot] = field(default_factory=list)
    facts: list[tuple[str, str]] = field(default_factory=list)


# --- data ----------------------------------------------------------------------------------------


def _release_sentences(release: Path, manifest: dict[str, Any]) -> pa.Table:
    """article_id, events (count) and split of every sentence of a release."""
    parts = []
    files = (manifest.get("configs", {}).get("sentences", {}) or {}).get("files") or {
        s: f"sentences/{s}.parquet" for s in SPLITS
    }
    for split, rel in files.items():
        f = release / rel
        if not f.is_file():
            continue
        t = read_table(f, columns=["article_id", "events"])
        parts.append(
            pa.table(
                {
                    "article_id": t["article_id"],
                    "events": pc.list_value_length(t["events"]).fill_null(0),
                    "split": pa.array([split] * t.num_rows, pa.string()),
                }
            )
        )
    if not parts:
        return pa.table({"article_id": [], "events": [], "split": []})
    return pa.concat_tables(parts)


def per_source_and_month(ws: Workspace, sentences: pa.Table) -> tuple[dict, dict]:
    """{source: (sentences, events)} and {YYYY-MM: (sentences, events)} of release sentences."""
    if sentences.num_rows == 0 or not ws.articles_path.exists():
        return {}, {}
    arts = read_table(
        ws.articles_path,
        columns=["article_id", "source", "published_at"],
        filters=pc.is_in(pc.field("article_id"), value_set=pc.unique(sentences["article_id"])),
    )
    idx = pc.index_in(sentences["article_id"], value_set=arts["article_id"])
    source = pc.take(arts["source"], idx).fill_null("(unknown)")
    month = pc.utf8_slice_codeunits(pc.take(arts["published_at"], idx).fill_null(""), 0, 7)
    ok = pc.match_substring_regex(month, r"^\d{4}-\d{2}$")
    month = pc.if_else(ok, month, pa.scalar("(no date)"))
    t = pa.table({"source": source, "month": month, "events": sentences["events"]})
    out = []
    for key in ("source", "month"):
        g = t.group_by(key).aggregate([("events", "count"), ("events", "sum")])
        out.append(
            {
                r[key]: (r["events_count"], r["events_sum"] or 0)
                for r in sorted(g.to_pylist(), key=lambda r: str(r[key]))
            }
        )
    return out[0], out[1]


def _sample_ids(ids: pa.Array, n: int = SAMPLE) -> pa.Array:
    ids = pc.unique(ids)
    return pc.take(ids, pc.sort_indices(ids)).slice(0, n)


def _annotations_of(ws: Workspace, sentence_ids: pa.Array) -> pa.Table:
    """The annotations of a few sentences, read with a filter (never the whole file at once)."""
    from corpus.publish.annotations import _ANNOTATION_COLUMNS, _with_empty_raw

    return _with_empty_raw(
        read_table(
            ws.annotations_path,
            columns=_ANNOTATION_COLUMNS,
            filters=pc.is_in(pc.field("sentence_id"), value_set=sentence_ids),
        )
    )


def agreement_per_label(ws: Workspace) -> dict[str, float]:
    """Exact-span F1 between annotators per label, on a fixed sample of shared sentences."""
    if not ws.annotations_path.exists():
        return {}
    from corpus.pull.agreement import agreement_report

    keys = read_table(ws.annotations_path, columns=["sentence_id", "cancelled"])
    live = keys.filter(pc.invert(keys["cancelled"]))
    vc = pc.value_counts(live["sentence_id"])
    multi = vc.field("values").filter(pc.greater(vc.field("counts"), 1))
    if len(multi) == 0:
        return {}
    rep = agreement_report(_annotations_of(ws, _sample_ids(multi)))
    return {
        lab["label"]: lab["f1_exact"]
        for lab in rep["span_f1"]["labels"]
        if lab.get("f1_exact") is not None
    }


def prelabel_acceptance(ws: Workspace) -> tuple[dict[str, float], dict[str, float]]:
    """Share of pre-labelled spans accepted unchanged: per label, and per pre-labeler version."""
    if not (ws.annotations_path.exists() and ws.predictions_path.exists()):
        return {}, {}
    from corpus.pull.quality import quality_report

    pred_ids = read_table(ws.predictions_path, columns=["sentence_id"])["sentence_id"]
    annotated = read_table(ws.annotations_path, columns=["sentence_id"])["sentence_id"]
    both = pc.unique(annotated).filter(pc.is_in(pc.unique(annotated), value_set=pred_ids))
    t = _annotations_of(ws, _sample_ids(both))
    if t.num_rows == 0:
        return {}, {}
    per_label = {
        f"{r['label']}": r["accept_rate"]
        for r in quality_report(t, ws.predictions_path)["labels"]
        if r["accept_rate"] is not None
    }
    per_version: dict[str, float] = {}
    versions = pc.unique(t["prediction_model_version"].fill_null("(none)")).to_pylist()
    for v in sorted(versions):
        part = t.filter(pc.equal(t["prediction_model_version"].fill_null("(none)"), v))
        rows = quality_report(part, ws.predictions_path)["labels"]
        n_pred = sum(r["predicted"] for r in rows)
        if n_pred:
            per_version[v] = sum(r["accepted"] for r in rows) / n_pred
    return per_label, per_version


def throughput(ws: Workspace) -> dict[str, dict[str, int]]:
    """{annotator: {YYYY-MM-DD: annotations submitted that day}}."""
    if not ws.annotations_path.exists():
        return {}
    t = read_table(ws.annotations_path, columns=["annotator", "updated_at", "cancelled"])
    t = t.filter(pc.invert(t["cancelled"]))
    if t.num_rows == 0:
        return {}
    day = pc.strftime(t["updated_at"], format="%Y-%m-%d")
    g = pa.table({"annotator": t["annotator"], "day": day}).group_by(["annotator", "day"])
    out: dict[str, dict[str, int]] = {}
    for r in g.aggregate([("day", "count")]).to_pylist():
        out.setdefault(r["annotator"], {})[r["day"]] = r["day_count"]
    return {a: dict(sorted(d.items())) for a, d in sorted(out.items())}


def learning_curve(ws: Workspace) -> tuple[str, list[dict]] | None:
    """(model name and version, curve points) of the newest model card that has a curve."""
    best = None
    for card in sorted((ws.root / "models").glob("*/*/card.json")):
        try:
            info = json.loads(card.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        if info.get("curve"):
            key = (info.get("trained_at") or "", str(card))
            if best is None or key > best[0]:
                best = (key, f"{info.get('name')} {info.get('version')}", info["curve"])
    return (best[1], best[2]) if best else None


# --- plots ---------------------------------------------------------------------------------------


def _figure(width: float = 8.0, height: float = 4.0):
    import matplotlib

    matplotlib.use("Agg")  # no display: render to PNG
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(width, height), dpi=100)
    return plt, fig, ax


def _png(plt, fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    # No "Software"/date metadata: the same figures give the same bytes.
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _grouped_bars(groups: list[str], series: dict[str, list[float]], ylabel: str, percent=False):
    plt, fig, ax = _figure(min(11.0, max(6.0, 0.45 * len(groups) * max(1, len(series)) + 2)), 4.2)
    n = max(1, len(series))
    width = 0.8 / n
    for k, (name, values) in enumerate(series.items()):
        xs = [i + (k - (n - 1) / 2) * width for i in range(len(groups))]
        ax.bar(xs, values, width, label=name)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    if percent:
        ax.set_ylim(0, 1)
    if len(series) > 1:
        ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _png(plt, fig)


def plot_labels_per_split(counts: dict[str, dict[str, dict[str, int]]]) -> Plot:
    title = "Labels per split"
    labels = sorted(
        {(k, lab) for s in counts.values() for k in ("entities", "events") for lab in s.get(k, {})}
    )
    if not labels:
        return Plot("labels_per_split", title, None, "No labels in this release.")
    series = {
        split: [counts.get(split, {}).get(k, {}).get(lab, 0) for k, lab in labels]
        for split in SPLITS
    }
    png = _grouped_bars([lab for _, lab in labels], series, "spans")
    return Plot("labels_per_split", title, png)


def plot_per_source(per_source: dict[str, tuple[int, int]]) -> Plot:
    title = "Sentences and events per source"
    if not per_source:
        return Plot("per_source", title, None, "No release sentences to count.")
    names = list(per_source)
    png = _grouped_bars(
        names,
        {
            "sentences": [v[0] for v in per_source.values()],
            "events": [v[1] for v in per_source.values()],
        },
        "count",
    )
    return Plot("per_source", title, png)


def plot_over_time(per_month: dict[str, tuple[int, int]]) -> Plot:
    title = "Sentences and events by month of publication"
    dated = {m: v for m, v in per_month.items() if m != "(no date)"}
    if not dated:
        return Plot("over_time", title, None, "No article has a publication date (YYYY-MM...).")
    plt, fig, ax = _figure()
    months = list(dated)
    ax.plot(months, [v[0] for v in dated.values()], marker="o", label="sentences")
    ax.plot(months, [v[1] for v in dated.values()], marker="s", ls="--", label="events")
    ax.set_ylabel("count")
    ax.tick_params(axis="x", rotation=45, labelsize=8)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    note = ""
    if "(no date)" in per_month:
        note = f"{per_month['(no date)'][0]:,} sentences from articles without a date are left out."
    return Plot("over_time", title, _png(plt, fig), note)


def plot_agreement(per_label: dict[str, float]) -> Plot:
    title = "Agreement per label (exact-span F1 between annotators)"
    if not per_label:
        return Plot(
            "agreement_per_label", title, None, "No sentence was annotated by two annotators."
        )
    png = _grouped_bars(list(per_label), {"F1": list(per_label.values())}, "F1", percent=True)
    return Plot("agreement_per_label", title, png)


def plot_acceptance(per_label: dict[str, float], per_version: dict[str, float]) -> Plot:
    title = "Pre-label acceptance (share of pre-labelled spans kept unchanged)"
    if not per_label:
        return Plot("prelabel_acceptance", title, None, "No annotation started from pre-labels.")
    _figure()  # selects the Agg backend
    import matplotlib.pyplot as mplt

    fig, (a1, a2) = mplt.subplots(
        1, 2, figsize=(10, 4.2), dpi=100, gridspec_kw={"width_ratios": [3, 1]}
    )
    a1.bar(range(len(per_label)), list(per_label.values()), color="tab:green")
    a1.set_xticks(range(len(per_label)))
    a1.set_xticklabels(list(per_label), rotation=45, ha="right", fontsize=8)
    a1.set_ylim(0, 1)
    a1.set_ylabel("accepted share")
    a1.set_title("per label", fontsize=9)
    a1.grid(axis="y", alpha=0.3)
    a2.bar(range(len(per_version)), list(per_version.values()), color="tab:purple")
    a2.set_xticks(range(len(per_version)))
    a2.set_xticklabels(list(per_version), rotation=45, ha="right", fontsize=8)
    a2.set_ylim(0, 1)
    a2.set_title("per pre-labeler version", fontsize=9)
    a2.grid(axis="y", alpha=0.3)
    return Plot("prelabel_acceptance", title, _png(mplt, fig))


def plot_throughput(per_annotator: dict[str, dict[str, int]]) -> Plot:
    title = "Annotator throughput (annotations submitted per day)"
    if not per_annotator:
        return Plot("throughput", title, None, "No submitted annotation yet.")
    plt, fig, ax = _figure()
    days = sorted({d for v in per_annotator.values() for d in v})
    for who, per_day in per_annotator.items():
        ax.plot(days, [per_day.get(d, 0) for d in days], marker="o", label=who)
    ax.set_ylabel("annotations")
    ax.tick_params(axis="x", rotation=45, labelsize=8)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return Plot("throughput", title, _png(plt, fig))


def plot_curve(curve: tuple[str, list[dict]] | None) -> Plot:
    title = "Learning curve (validation F1 by training sentences)"
    if curve is None:
        return Plot(
            "learning_curve",
            title,
            None,
            "No trained model with a learning curve: `corpus train --curve` records one.",
        )
    name, points = curve
    plt, fig, ax = _figure()
    xs = [p["sentences"] for p in points]
    for key in ("entity", "trigger", "micro"):
        ax.plot(xs, [p.get(key, 0.0) for p in points], marker="o", label=key)
    ax.set_xlabel("training sentences")
    ax.set_ylabel("F1")
    ax.set_ylim(0, 1)
    ax.set_title(f"model {name}", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return Plot("learning_curve", title, _png(plt, fig))


# --- the page ------------------------------------------------------------------------------------


def build_report(
    ws: Workspace, release: Path | None, manifest: dict[str, Any] | None = None
) -> Report:
    """All figures of the workspace (and of `release`, when given)."""
    if release is not None and manifest is None:
        from corpus.publish.manifest import read_manifest

        manifest = read_manifest(release)
    version = (manifest or {}).get("version")
    rep = Report(
        f"{ws.section('workspace').get('name', ws.root.name)}"
        + (f" — release {version}" if version else "")
    )
    if release is not None and manifest is not None:
        sentences = _release_sentences(release, manifest)
        by_source, by_month = per_source_and_month(ws, sentences)
        rep.plots.append(plot_labels_per_split(manifest.get("label_counts", {})))
        rep.plots.append(plot_per_source(by_source))
        rep.plots.append(plot_over_time(by_month))
        rows = manifest.get("rows", {}).get("sentences", {})
        rep.facts.append(("sentences", ", ".join(f"{s} {rows.get(s, 0):,}" for s in SPLITS)))
        lic = manifest.get("license") or {}
        rep.facts.append(("licence", f"{lic.get('id') or 'other'} ({lic.get('rule', 'n/a')})"))
        b = manifest.get("baseline") or {}
        if b.get("status") == "computed":
            for split, sc in b["scores"].items():
                if "entity" in sc:
                    rep.facts.append(
                        (
                            f"baseline F1 ({split})",
                            f"entity {sc['entity']['f1']:.3f}, trigger {sc['trigger']['f1']:.3f}, "
                            f"argument {sc['argument']['f1']:.3f}",
                        )
                    )
    else:
        note = "No release: publish one (or pass --release) for the release figures."
        for name, title in (
            ("labels_per_split", "Labels per split"),
            ("per_source", "Sentences and events per source"),
            ("over_time", "Sentences and events by month of publication"),
        ):
            rep.plots.append(Plot(name, title, None, note))
    rep.plots.append(plot_agreement(agreement_per_label(ws)))
    rep.plots.append(plot_acceptance(*prelabel_acceptance(ws)))
    rep.plots.append(plot_throughput(throughput(ws)))
    rep.plots.append(plot_curve(learning_curve(ws)))
    return rep


def render_html(rep: Report) -> str:
    """The page: every plot embedded as a base64 PNG (no external resource of any kind)."""
    esc = html.escape
    out = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(rep.title)}</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
        "figure{margin:1.5em 0;border:1px solid #ddd;padding:1em;border-radius:6px}"
        "figcaption{font-weight:bold;margin-bottom:.5em}img{max-width:100%}"
        ".note{color:#666;font-style:italic}table{border-collapse:collapse}"
        "td,th{padding:.2em .8em;border-bottom:1px solid #eee;text-align:left}</style>",
        "</head><body>",
        f"<h1>{esc(rep.title)}</h1>",
    ]
    if rep.facts:
        out.append("<table>")
        out += [f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rep.facts]
        out.append("</table>")
    for p in rep.plots:
        out.append(f'<figure id="{esc(p.name)}"><figcaption>{esc(p.title)}</figcaption>')
        if p.png is not None:
            data = base64.b64encode(p.png).decode("ascii")
            out.append(f'<img alt="{esc(p.title)}" src="data:image/png;base64,{data}">')
        if p.note:
            out.append(f'<p class="note">{esc(p.note)}</p>')
        out.append("</figure>")
    out.append("</body></html>\n")
    return "\n".join(out)


def write_report(rep: Report, out_dir: Path, pngs: tuple[str, ...] | None = None) -> list[Path]:
    """Write the page and the PNGs (`pngs`: which ones; default all) into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / PAGE]
    (out_dir / PAGE).write_text(render_html(rep), encoding="utf-8")
    for p in rep.plots:
        if p.png is not None and (pngs is None or p.name in pngs):
            (out_dir / f"{p.name}.png").write_bytes(p.png)
            written.append(out_dir / f"{p.name}.png")
    return written
