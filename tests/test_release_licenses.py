"""Release licences from the sources' licences: the card's sources table and `license` field,
the compatibility table, and publish refusing licences that cannot be combined."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from test_publish import build_workspace  # noqa: E402  (tests/ is on sys.path)
from test_release_cli import run, run_main  # noqa: E402

from corpus.errors import ReleaseError
from corpus.publish.build import publish
from corpus.publish.licenses import hub_license, release_license, terms


def _src(*rows: tuple[str, str | None, int]) -> list[dict]:
    return [{"source": s, "license": lic, "articles": n} for s, lic, n in rows]


@pytest.mark.parametrize(
    ("licenses", "expected"),
    [
        (["CC-BY-4.0"], "CC-BY-4.0"),
        (["CC0-1.0", "CC-BY-4.0"], "CC-BY-4.0"),
        (["CC-BY-3.0", "CC-BY-4.0"], "CC-BY-4.0"),
        (["CC-BY-4.0", "CC-BY-SA-4.0"], "CC-BY-SA-4.0"),
        (["CC-BY-SA-3.0", "CC-BY-SA-4.0"], "CC-BY-SA-4.0"),
        (["CC-BY-4.0", "CC-BY-NC-4.0"], "CC-BY-NC-4.0"),
        (["CC-BY-NC-4.0", "CC-BY-NC-SA-4.0"], "CC-BY-NC-SA-4.0"),
        (["MIT", "CC-BY-4.0"], "CC-BY-4.0"),
        (["CC-BY-ND-4.0"], "CC-BY-ND-4.0"),
        (["LicenseRef-agency"], "LicenseRef-agency"),
    ],
)
def test_compatible_licences_give_the_most_restrictive(licenses, expected):
    sources = _src(*((f"s{i}", lic, 1) for i, lic in enumerate(licenses)))
    assert release_license(sources, None)["id"] == expected


@pytest.mark.parametrize(
    ("a", "b", "why"),
    [
        ("CC-BY-NC-4.0", "CC-BY-SA-4.0", "share-alike licence forbids adding the non-commercial"),
        ("CC-BY-SA-4.0", "CC-BY-ND-4.0", "no-derivatives"),
        ("CC-BY-SA-4.0", "CC-BY-NC-SA-4.0", "two different share-alike"),
        ("CC-BY-4.0", "LicenseRef-agency", "not in the compatibility table"),
    ],
)
def test_incompatible_licences_are_refused_naming_sources(a, b, why):
    sources = _src(("agency-a", a, 3), ("agency-b", b, 2))
    with pytest.raises(ReleaseError) as e:
        release_license(sources, None)
    msg = e.value.message  # one line; the hint says what to do
    assert "Cannot combine sources licensed" in msg and why in msg
    assert "agency-a" in msg and "agency-b" in msg and "\n" not in msg
    assert "--license" in e.value.hint
    # Told which licence to use, publish goes ahead and says so.
    chosen = release_license(sources, "CC-BY-NC-SA-4.0", "--license")
    assert chosen == {
        "id": "CC-BY-NC-SA-4.0",
        "hub": "cc-by-nc-sa-4.0",
        "rule": "chosen (--license)",
    }


def test_unknown_licences_make_the_release_other():
    assert release_license(_src(("a", None, 2)), None)["hub"] == "other"
    lic = release_license(_src(("a", "CC-BY-4.0", 2), ("b", None, 1)), None)
    assert lic == {"id": None, "hub": "other", "rule": "1 article(s) have no recorded licence"}
    assert hub_license("LicenseRef-agency") == "other" and hub_license("CC0-1.0") == "cc0-1.0"
    assert terms("cc-by-nc-sa-4.0").family == "nc-sa"


def _with_licenses(ws, by_article) -> None:
    """Give articles a source and a licence column, as `corpus ingest --license` leaves them."""
    t = pq.read_table(ws.articles_path)
    src, lic = zip(*(by_article(a) for a in t["article_id"].to_pylist()), strict=True)
    t = t.set_column(t.schema.get_field_index("source"), "source", pa.array(src))
    if "license" in t.column_names:
        t = t.drop_columns(["license"])
    pq.write_table(t.append_column("license", pa.array(lic, pa.string())), ws.articles_path)


def test_the_card_lists_sources_with_licences_and_counts(tmp_path):
    built = build_workspace(tmp_path / "ws", n_articles=6)

    def by_article(aid):
        return ("wire.jsonl", "CC-BY-4.0") if aid < "art-003" else ("blog.csv", "CC-BY-SA-4.0")

    _with_licenses(built.ws, by_article)
    report = publish(built.ws, "1.0.0")
    card = (report.path / "README.md").read_text(encoding="utf-8")
    header = yaml.safe_load(card.split("---\n")[1])
    assert header["license"] == "cc-by-sa-4.0"
    assert "| `wire.jsonl` | CC-BY-4.0 | 3 |" in card
    assert "| `blog.csv` | CC-BY-SA-4.0 | 4 |" in card  # 3 articles + the special one
    assert "Release licence: `CC-BY-SA-4.0`, the most restrictive compatible licence" in card
    assert report.manifest["sources"] == [
        {"source": "blog.csv", "license": "CC-BY-SA-4.0", "articles": 4},
        {"source": "wire.jsonl", "license": "CC-BY-4.0", "articles": 3},
    ]


def test_articles_without_a_licence_column_publish_as_other(tmp_path):
    built = build_workspace(tmp_path / "ws", n_articles=2)
    t = pq.read_table(built.ws.articles_path)
    if "license" in t.column_names:  # files written before the column existed
        pq.write_table(t.drop_columns(["license"]), built.ws.articles_path)
    report = publish(built.ws, "1.0.0")
    assert report.manifest["license"]["hub"] == "other"
    assert report.manifest["sources"] == [{"source": "test.jsonl", "license": None, "articles": 3}]


def test_publish_refuses_mixed_licences_in_one_line_unless_told(tmp_path, capsys):
    built = build_workspace(tmp_path / "ws", n_articles=4)

    def by_article(aid):
        return ("nc-feed", "CC-BY-NC-4.0") if aid < "art-002" else ("sa-wiki", "CC-BY-SA-4.0")

    _with_licenses(built.ws, by_article)
    code, out, err = run_main(capsys, "publish", "1.0.0", "--workspace", built.ws.root)
    assert code == 1
    first = err.splitlines()[0] if err else ""
    assert (
        "Cannot combine sources licensed CC-BY-NC-4.0 (nc-feed) and CC-BY-SA-4.0 (sa-wiki)" in err
    )
    assert "Traceback" not in err and first
    assert not (built.ws.releases_dir / "1.0.0").exists()

    r = run("publish", "1.0.0", "--license", "CC-BY-NC-SA-4.0", "--workspace", built.ws.root)
    assert r.exit_code == 0, r.output
    assert "licence: CC-BY-NC-SA-4.0 (chosen (--license))" in r.output
    card = (built.ws.releases_dir / "1.0.0" / "README.md").read_text(encoding="utf-8")
    assert "license: cc-by-nc-sa-4.0" in card


def test_a_malformed_release_licence_is_a_usage_error(tmp_path, capsys):
    built = build_workspace(tmp_path / "ws", n_articles=2)
    code, _, err = run_main(
        capsys, "publish", "1.0.0", "--license", "CC BY 4.0", "--workspace", built.ws.root
    )
    assert code == 2 and "is not an SPDX licence id" in err
    with pytest.raises(Exception, match="is not an SPDX licence id"):
        publish(built.ws, "1.0.0", license="CC-BY-4.0\n")
