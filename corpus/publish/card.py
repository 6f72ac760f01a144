"""The dataset card (README.md of a release): Hugging Face YAML header and prose."""

from __future__ import annotations

from typing import Any

from corpus.publish.configs import CONFIGS
from corpus.publish.splits import SPLITS
from corpus.publish.stats import size_category

_CONFIG_DOCS = {
    "sentences": "one row per annotated sentence: text, entity spans, events (trigger, type, "
    "arguments), the sentence choice and provenance; offsets into `text`",
    "tokens": "sentence text, tokens with offsets and BIO tags (`ner_tags`, `trigger_tags`, "
    "ClassLabel) for token classification",
    "events": "entity and event mentions with token and character offsets, in the shape "
    "event-extraction trainers read (TextEE / OneIE)",
    "documents": "one row per article: full text, its annotated sentences, entities and "
    "events across them; offsets into the article `text`",
}


def _fmt(x: Any) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float):
        return f"{x:.3f}"
    return f"{x:,}" if isinstance(x, int) else str(x)


def _card_yaml(info: dict[str, Any], features: dict[str, Any]) -> str:
    import yaml

    publish_cfg = info.get("publish") or {}
    total = sum(info["rows"]["sentences"].values())
    header = {
        "pretty_name": publish_cfg.get("pretty_name") or info["workspace"],
        "license": info["license"]["hub"],
        **(
            {"license_name": info["license"]["id"]}
            if info["license"]["hub"] == "other" and info["license"]["id"]
            else {}
        ),
        "language": ["ar"],
        "multilinguality": ["monolingual"],
        "task_categories": ["token-classification"],
        "task_ids": ["named-entity-recognition"],
        "size_categories": [size_category(total)],
        "tags": ["arabic", "event-extraction", "news", "label-studio"],
        "configs": [
            {
                "config_name": name,
                "data_files": [
                    {"split": s, "path": path} for s, path in info["configs"][name]["files"].items()
                ],
                **({"default": True} if name == "sentences" else {}),
            }
            for name in CONFIGS
        ],
        "dataset_info": [
            {
                "config_name": name,
                "features": features[name]._to_yaml_list(),
                "splits": [
                    {
                        "name": s,
                        "num_bytes": info["bytes"][name][s],
                        "num_examples": info["rows"][name][s],
                    }
                    for s in info["configs"][name]["files"]
                ],
            }
            for name in CONFIGS
        ],
    }
    return yaml.safe_dump(header, sort_keys=False, allow_unicode=True, width=100)


def _configurations(info: dict[str, Any]) -> list[str]:
    out: list[str] = []
    rows = info["rows"]
    out.append("## Configurations\n")
    out.append("| config | train | validation | test | contents |\n|---|---:|---:|---:|---|")
    for c in CONFIGS:
        r = rows[c]
        out.append(
            f"| `{c}` | {r['train']:,} | {r['validation']:,} | {r['test']:,} | {_CONFIG_DOCS[c]} |"
        )
    out.append("")
    return out


def _loading(info: dict[str, Any]) -> list[str]:
    out: list[str] = []
    v = info["version"]
    out.append("## Loading\n")
    out.append(
        "```python\nfrom datasets import load_dataset\n\n"
        f'sentences = load_dataset("path/to/releases/{v}", "sentences")\n'
        f'tokens = load_dataset("path/to/releases/{v}", "tokens")\n'
        f'events = load_dataset("path/to/releases/{v}", "events")\n'
        'ner_labels = tokens["train"].features["ner_tags"].feature.names\n'
        'trigger_labels = tokens["train"].features["trigger_tags"].feature.names\n\n'
        "# from the Hugging Face Hub, pinned to this version:\n"
        f'# load_dataset("ORG/NAME", "tokens", revision="{v}")\n```\n'
    )
    out.append(
        "Offsets (`start`, `end`, `token_starts`, `token_ends`) are Python code points, "
        "end-exclusive: `text[start:end]` is the span text. Texts are exactly as annotators saw "
        "them (no Arabic normalisation).\n"
    )

    return out


def _ontology(info: dict[str, Any]) -> list[str]:
    out: list[str] = []
    onto = info["ontology"]
    out.append("## Ontology\n")
    out.append(f"`{onto['name']}`, sha256 `{onto['hash']}`.\n")
    out.append("Entity types: " + ", ".join(f"`{t}`" for t in onto["entity_types"]) + ".\n")
    out.append("| event type | argument roles |\n|---|---|")
    for et, roles in onto["event_types"].items():
        out.append(f"| `{et}` | {', '.join(roles) or '—'} |")
    out.append("")
    return out


def _label_counts(info: dict[str, Any]) -> list[str]:
    out: list[str] = []
    out.append("## Label counts per split\n")
    out.append("| kind | label | train | validation | test |\n|---|---|---:|---:|---:|")
    counts = info["label_counts"]
    for kind in ("entities", "events", "roles", "choices"):
        labels = sorted({lab for s in SPLITS for lab in counts[s][kind]})
        for lab in labels:
            vals = " | ".join(f"{counts[s][kind].get(lab, 0):,}" for s in SPLITS)
            out.append(f"| {kind} | `{lab}` | {vals} |")
    out.append("")
    return out


def _annotation(info: dict[str, Any]) -> list[str]:
    out: list[str] = []
    agr = info["agreement"]
    adj = info["adjudication"]
    out.append("## Annotation\n")
    out.append(
        f"- Annotators: {info['annotators']} (identified only by pseudonymous ids in "
        "`provenance.annotator`)."
    )
    policy = adj["policy"] + (f" (reviewer `{adj['reviewer']}`)" if adj.get("reviewer") else "")
    out.append(
        f"- Adjudication: one annotation per sentence, policy `{policy}`; "
        "`provenance.annotators` is how many annotators labelled the sentence."
    )
    if agr.get("sentences_measured"):
        f1 = agr.get("span_f1", {})
        of = agr["sentences_multiply_annotated"]
        sample = f" (a fixed sample of {of:,})" if of > agr["sentences_measured"] else ""
        out.append(
            f"- Agreement over {agr['sentences_measured']:,} sentences annotated by two or more "
            f"annotators{sample}: span F1 exact {_fmt(f1.get('f1_exact'))}, overlap "
            f"{_fmt(f1.get('f1_overlap'))}; sentence choice Fleiss' kappa "
            f"{_fmt(agr['choice'].get('fleiss_kappa'))}, Krippendorff's alpha "
            f"{_fmt(agr['choice'].get('krippendorff_alpha'))}; trigger type Fleiss' kappa "
            f"{_fmt(agr['trigger_type'].get('fleiss_kappa'))}."
        )
    else:
        out.append("- Agreement: no sentence was annotated by more than one annotator.")
    if info["prelabelers"]:
        pre = "; ".join(
            f"`{p['name']}` {p['version']} ({p['sentences']:,} sentences)"
            for p in info["prelabelers"]
        )
        out.append(f"- Pre-labels shown to annotators (to correct, not to accept blindly): {pre}.")
    else:
        out.append("- Pre-labels: none recorded.")
    ex = info["excluded"]
    out.append(
        f"- Left out: {ex['noise']:,} sentences marked `noise`, {ex['cancelled_only']:,} sentences "
        "only skipped by annotators.\n"
    )

    return out


def _splits(info: dict[str, Any]) -> list[str]:
    sp = info["splits"]
    out = ["## Splits\n"]
    out.append(
        f"Split by article group: an article and its near-duplicates (`group`) always share a "
        f"split, so no near-duplicate leaks between train, validation and test. The split of a "
        f"group is a keyed hash of its key (blake2b of seed {sp['seed']} and the group) mapped "
        f"to train {sp['train']:g} / validation {sp['validation']:g} / test {sp['test']:g}.\n"
    )
    min_groups = sp.get("min_groups", 0)
    out.append(
        f"- Small corpora: validation and test (when their ratio is above 0) each get at least "
        f"{min_groups} article group(s); when the hash gives one fewer, the train groups with the "
        f"highest hash positions move there (test first), while train keeps at least one group. "
        f"This version moved {sp.get('groups_moved_to_fill', 0):,} group(s) so."
    )
    out.append(
        f"- Stable across versions: a group published in the previous version keeps its split "
        f"there ({sp.get('groups_kept_from_previous', 0):,} groups kept theirs), so an article "
        f"never changes split while `[splits]` is unchanged; only new groups are assigned.\n"
    )
    return out


def _tokens(info: dict[str, Any]) -> list[str]:
    out: list[str] = []
    al = info["token_alignment"]
    out.append("## Tokens and BIO tags\n")
    out.append(
        "Tokens follow camel-tools `simple_word_tokenize` (whitespace, then every punctuation "
        "or symbol character alone; emoji sequences whole; diacritics and tatweel inside words), "
        "except that a hashtag such as `#دير_الزور` is one token and the direction marks LRM, RLM "
        "and ALM separate tokens. A span tags every token it overlaps (`B-` then `I-`); a span "
        "with an edge inside a token (a clitic: `الجيش` in `والجيش`) still tags it and is "
        "counted, spans overlapping an earlier span of the same kind cannot be BIO tags."
    )
    out.append(
        "\n| spans | total | tagged | edge inside a token | dropped: overlap | dropped: no token |"
    )
    out.append("|---|---:|---:|---:|---:|---:|")
    for kind in ("entities", "triggers"):
        a = al[kind]
        out.append(
            f"| {kind} | {a['spans']:,} | {a['tagged']:,} | {a['misaligned']:,} | "
            f"{a['overlapping']:,} | {a['empty']:,} |"
        )
    out.append("")
    return out


def _events(info: dict[str, Any]) -> list[str]:
    v = info["version"]
    return [
        "## The `events` config (TextEE / OneIE shape)\n",
        "One row per sentence, ready for event-extraction trainers (TextEE, OneIE, X-Gear): "
        "`id` (the sentence id of every config), `doc_id` (the article), `text`, `tokens`, "
        "`entity_mentions` (`id`, `entity_type`, `text`, `start`, `end`, `char_start`, "
        "`char_end`) and `event_mentions` (`id`, `event_type`, `trigger` {`text`, `start`, "
        "`end`, `char_start`, `char_end`}, `arguments` [{`entity_id`, `role`, `text`}]). Types "
        "and roles are the ontology's strings (above).\n",
        "- `tokens` are exactly the `tokens` config's tokens of the sentence.",
        "- `start`/`end` are token indices, end-exclusive: `tokens[start:end]` covers the mention "
        "(every token it overlaps; a mention inside a clitic-attached word covers that word; a "
        "mention on no token has `start == end`).",
        "- `char_start`/`char_end` are Python code points into `text`, end-exclusive: "
        "`text[char_start:char_end] == mention text`, exactly as in the `sentences` config.",
        "- `arguments[].entity_id` is the `id` of an entity mention of the same sentence.\n",
        "```python\nfrom corpus.publish.events import to_textee  # or rename id -> wnd_id\n\n"
        f'events = load_dataset("path/to/releases/{v}", "events")\n'
        'row = to_textee(events["train"][0])  # doc_id, wnd_id, tokens, entity_mentions, ...\n'
        "```\n",
    ]


def _sources(info: dict[str, Any]) -> list[str]:
    lic = info["license"]
    out = ["## Sources and licences\n"]
    out.append("| source | licence | articles in this release |\n|---|---|---:|")
    for s in info["sources"]:
        out.append(f"| `{s['source']}` | {s['license'] or 'unknown'} | {s['articles']:,} |")
    named = f"`{lic['id']}`" if lic["id"] else "`other` (no licence can be claimed)"
    out.append(
        f"\nRelease licence: {named}, {lic['rule']}. Derived from the sources unless chosen: "
        "one licence is used as it is; several are combined into the most restrictive when "
        "they allow it (public domain and attribution licences combine with everything but "
        "no-derivatives; non-commercial and share-alike never meet; two different share-alike "
        "licences never meet); an article without a recorded licence makes it `other`.\n"
    )
    return out


def _baseline(info: dict[str, Any]) -> list[str]:
    b = info.get("baseline") or {"status": "not computed", "reason": "not recorded"}
    out = ["## Baseline scores\n"]
    if b["status"] != "computed":
        out.append(f"Not computed: {b['reason']}.\n")
        return out
    sample = (
        f" (a fixed sample of {b['train_sentences']:,} of its {b['train_sentences_in_split']:,})"
        if b["train_sentences"] < b["train_sentences_in_split"]
        else ""
    )
    out.append(
        f"The default learned model ({b['model']}) trained on the train split"
        f"{sample}, scored with exact matching: a span counts when its start, end and label "
        f"match; an argument when its role, its entity span and its trigger (span and event "
        f"type) match. Arguments are predicted on the model's own spans by the "
        f"`{b['arguments_model']}` argument pre-labeler. The bar to beat:\n"
    )
    out.append("| split | sentences | entity F1 | trigger F1 | argument F1 |")
    out.append("|---|---:|---:|---:|---:|")
    for split, sc in b["scores"].items():
        if sc.get("status") == "not computed":
            out.append(f"| {split} | — | {sc['reason']} | | |")
            continue
        out.append(
            f"| {split} | {sc['sentences']:,} | {_fmt(sc['entity']['f1'])} | "
            f"{_fmt(sc['trigger']['f1'])} | {_fmt(sc['argument']['f1'])} |"
        )
    out.append(
        "\nPrecision, recall and counts are in `manifest.json` (`baseline`). "
        "`corpus train --release VERSION` trains the same kind of model on train and "
        "validation, as a pre-labeler.\n"
    )
    return out


def _report(info: dict[str, Any]) -> list[str]:
    rep = info.get("report")
    if not rep:
        return []
    out = [
        "## Report\n",
        f"[`{rep['page']}`]({rep['page']}) is a self-contained page (plots embedded, no "
        "network) with every figure below and more: annotator throughput, the learning "
        "curve. `corpus report --release VERSION` draws it again.\n",
    ]
    for p in rep["plots"]:
        if p["png"]:
            out.append(f"![{p['title']}]({p['png']})\n")
        elif p["name"] in ("labels_per_split", "agreement_per_label", "prelabel_acceptance"):
            out.append(f"- {p['title']}: {p['note']}")
    out.append("")
    return out


def _changes(info: dict[str, Any]) -> list[str]:
    out: list[str] = []
    out.append("## Changes since the previous version\n")
    ch = info.get("changes")
    if not info.get("previous_version"):
        out.append("First release.\n")
    else:
        out.append(
            f"Compared with {info['previous_version']}: {ch['added']:,} sentences added, "
            f"{ch['removed']:,} removed, {ch['relabelled']:,} relabelled, "
            f"{ch['moved_split']:,} changed split.\n"
        )
        changed = [
            (kind, lab, c)
            for kind, labs in ch["label_counts"].items()
            for lab, c in labs.items()
            if c["delta"]
        ]
        if changed:
            out.append("| kind | label | before | after | change |\n|---|---|---:|---:|---:|")
            for kind, lab, c in changed:
                out.append(
                    f"| {kind} | `{lab}` | {c['before']:,} | {c['after']:,} | {c['delta']:+,} |"
                )
            out.append("")

    return out


def _provenance(info: dict[str, Any]) -> list[str]:
    out: list[str] = []
    onto = info["ontology"]
    ls = info["label_studio"]
    out.append("## Provenance\n")
    snaps = ", ".join(
        f"project {s['project_id']} snapshot {s['snapshot_id']}"
        + (" (review)" if s["review"] else "")
        for s in ls["snapshots"]
    )
    out.append(
        f"- Label Studio project: {ls['project_id'] if ls['project_id'] is not None else 'n/a'}; "
        f"export snapshots: {snaps or 'n/a'}."
    )
    out.append(f"- Built by `corpus` {info['tool']['version']}; ontology sha256 `{onto['hash']}`.")
    out.append(
        "- `manifest.json`: version, row counts, label counts and the sha256 of every file.\n"
    )
    return out


SECTIONS = (
    _configurations,
    _sources,
    _loading,
    _ontology,
    _label_counts,
    _annotation,
    _splits,
    _tokens,
    _events,
    _baseline,
    _report,
    _changes,
    _provenance,
)


def dataset_card(info: dict[str, Any], features: dict[str, Any]) -> str:
    """README.md of a release: Hugging Face YAML header and the prose a model team needs."""
    v = info["version"]
    rows = info["rows"]
    name = (info.get("publish") or {}).get("pretty_name") or info["workspace"]
    total = sum(rows["sentences"].values())
    docs = sum(rows["documents"].values())
    out = [f"---\n{_card_yaml(info, features)}---\n", f"# {name} — version {v}\n"]
    if info.get("message"):
        out.append(f"{info['message']}\n")
    out.append(
        f"Arabic news sentences annotated with entities and events in Label Studio, published "
        f"by `corpus` {info['tool']['version']}: {total:,} sentences from {docs:,} articles, "
        f"annotated by {info['annotators']} annotators. This version never changes: its files "
        f"are listed with their sha256 in `manifest.json` (`corpus verify {v}` checks them).\n"
    )
    for section in SECTIONS:
        out += section(info)
    return "\n".join(out)
