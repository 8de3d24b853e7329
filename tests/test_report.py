"""The report page (reports/index.html), named visitors, visitors' tags and tables, plot grids
and `mdflow.visit`: checked on the HTML's content, not on pixels."""

from __future__ import annotations

import json
import random
import re
import struct
from pathlib import Path

import pandas as pd
import pytest
from conftest import git, make_tree, mdflow

ROLES = """
datasets:
- paths: ["data/train.csv"]
  split: train
  target: species
  prediction: predicted
- paths: ["data/test.csv"]
  split: test
  target: species
  prediction: predicted
"""
SPECIES = {"Adelie": (38.8, 190, 3700), "Chinstrap": (48.8, 196, 3733), "Gentoo": (47.5, 217, 5076)}
EXTERNAL = re.compile(r"""(?:https?:)?//|\b(?:src|href)\s*=\s*(?!["']?#)|@import|url\(""", re.I)


def penguins(path: Path, rows: int, seed: int, shift: float = 0.0, extra: bool = False) -> None:
    """A penguins-like table: species (the target), island, measures, a model's guess;
    every 25th flipper length missing; with `extra`, a column `ring` and one all empty."""
    rng = random.Random(seed)
    names = list(SPECIES)
    lines = ["species,island,bill_length_mm,flipper_length_mm,body_mass_g,hour,minute,predicted"]
    lines[0] += ",ring,empty" if extra else ""
    for i in range(rows):
        name = names[i % 3]
        bill, flipper, mass = SPECIES[name]
        guess = name if i % 10 else names[(i + 1) % 3]
        fl = "" if i % 25 == 0 else f"{rng.gauss(flipper, 6):.0f}"
        row = f"{name},{rng.choice(['Biscoe', 'Dream'])},{rng.gauss(bill + shift, 2.5):.1f},{fl}"
        row += f",{rng.gauss(mass, 400):.0f},{i % 24},{i % 60},{guess}"
        lines.append(row + (f",R{i}," if extra else ""))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def ks_distance(a: pd.Series, b: pd.Series) -> float:
    """The largest gap between the two empirical distribution functions."""
    grid = sorted(set(a.dropna()) | set(b.dropna()))
    return max(abs((a.dropna() <= x).mean() - (b.dropna() <= x).mean()) for x in grid)


def setup(repo: Path, tmp_path: Path, extra: str = "") -> None:
    cfg = repo / "mdflow.yaml"
    cfg.write_text(cfg.read_text() + extra + ROLES)  # extra visitors, then the roles
    assert mdflow(repo, "remote", "add", "origin", str(tmp_path / "store")).code == 0


def artifact(repo: Path, tmp_path: Path, rel: str, name: str) -> Path:
    """An artifact of the run the pointer of `rel` links to (after mdflow visit)."""
    text = (repo / f"{rel}.mdflow").read_text()
    run = re.search(r"runs:/([0-9a-f]+)", text)
    assert run, text
    found = list((tmp_path / "store").rglob(f"{run.group(1)}/artifacts/{name}"))
    assert len(found) == 1, name
    return found[0]


def section(page: str, anchor: str) -> str:
    """The HTML of one section of the page, by its id."""
    found = re.search(rf'<section id="{anchor}">(.*?)</section>', page, re.S)
    assert found, f"no section {anchor}"
    return found.group(1)


def two_commits(repo: Path, tmp_path: Path, extra: str = "") -> pd.DataFrame:
    setup(repo, tmp_path, extra)
    penguins(repo / "data/train.csv", 240, 1)
    penguins(repo / "data/test.csv", 90, 2)
    assert mdflow(repo, "add", "data/train.csv", "data/test.csv").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    git(repo, "tag", "v1")
    penguins(repo / "data/train.csv", 300, 3, shift=4.0, extra=True)
    assert mdflow(repo, "add", "data/train.csv").code == 0
    r = mdflow(repo, "visit")
    assert r.code == 0, r.err
    assert "ran      report       data/train.csv" in r.out
    return pd.read_csv(repo / "data/train.csv")


def test_report_page_has_every_section_with_the_right_numbers(repo: Path, tmp_path: Path) -> None:
    frame = two_commits(repo, tmp_path)
    path = artifact(repo, tmp_path, "data/train.csv", "reports/index.html")
    page = path.read_text()
    assert path.stat().st_size < 1_000_000
    shown = mdflow(repo, "show", "data/train.csv")
    assert "- reports/index.html" in shown.out
    assert not EXTERNAL.search(page), EXTERNAL.search(page)
    for anchor in ("overview", "schema", "statistics", "distributions", "correlations"):
        section(page, anchor)
    overview = section(page, "overview")
    assert f"<td>rows</td><td>{len(frame):,}</td>" in overview
    assert f"<td>columns</td><td>{len(frame.columns)}</td>" in overview
    assert "<td>split</td><td>train</td>" in overview
    missing = int(frame.isna().sum().sum())
    assert f"<td>missing cells</td><td>{missing:,} ({missing / frame.size:.1%})</td>" in overview
    assert "<td>duplicate rows</td><td>0</td>" in overview
    assert "<td>target</td><td>species</td>" in overview
    schema = section(page, "schema")
    assert "2 added, 0 removed, 0 retyped" in schema
    nulls = int(frame["flipper_length_mm"].isna().sum())
    assert f"<td>flipper_length_mm</td><td>float64</td><td>{nulls:,} (" in schema
    # every numeric column has a chart (hour and minute too), or is named with a reason
    charts = section(page, "distributions")
    for col in frame.select_dtypes("number").columns:
        if col != "empty":
            assert f"<title>{col}</title>" in charts, col
    assert "empty: every value is missing" in charts
    assert "ring: every value is distinct" in charts
    assert f"<td>{frame['body_mass_g'].max():,.0f}</td>" in section(page, "statistics")
    assert section(page, "correlations").count("<rect") == 5 * 5  # numeric columns that vary
    groups = section(page, "by-category")
    assert "Grouped by <b>species</b> (3 categories)" in groups
    drift = section(page, "drift")
    assert "Compared with the previous version." in drift
    penguins(tmp_path / "v1.csv", 240, 1)
    ks = ks_distance(frame["bill_length_mm"], pd.read_csv(tmp_path / "v1.csv")["bill_length_mm"])
    assert ks > 0.3  # bills grew by 4 mm
    assert f"<td>bill_length_mm</td><td>KS</td><td>{ks:.3f}</td>" in drift
    target = section(page, "target-and-prediction")
    for split, rows in (("train", 300), ("test", 90), ("the previous version", 240)):
        assert f"<title>species in {split}</title>" in target
        agree = 1 - (-(-rows // 10)) / rows  # every 10th guess is wrong
        assert f"<td>{split}</td><td>{rows}</td><td>{agree:.1%} agree</td>" in target


def test_a_named_second_report_compares_with_a_baseline_revision(
    repo: Path, tmp_path: Path
) -> None:
    extra = "- use: report\n  name: since-v1\n  options: {baseline: v1, group_by: island}\n"
    two_commits(repo, tmp_path, extra)
    both = {
        name: artifact(repo, tmp_path, "data/train.csv", name).read_text()
        for name in ("reports/index.html", "reports/since-v1/index.html")
    }
    named = both["reports/since-v1/index.html"]
    assert "Compared with baseline v1." in section(named, "drift")
    assert "Grouped by <b>island</b>" in section(named, "by-category")
    assert "Compared with the previous version." in section(both["reports/index.html"], "drift")


def test_one_name_twice_is_an_error_and_a_bad_name_refused(repo: Path, tmp_path: Path) -> None:
    setup(repo, tmp_path, "- use: rows\n")
    (repo / "t.csv").write_text("a\n1\n")
    assert mdflow(repo, "add", "t.csv").code == 0
    r = mdflow(repo, "visit")
    assert r.code == 1
    assert r.err.startswith("mdflow: error: two visitors named 'rows' apply to t.csv")
    assert "name:" in r.err
    assert not list((tmp_path / "store").rglob("t.csv.mdflow"))  # no version run recorded
    cfg = repo / "mdflow.yaml"
    cfg.write_text(cfg.read_text().replace("- use: rows\n", "- use: rows\n  name: ../up\n"))
    r = mdflow(repo, "visit")
    assert r.code == 1 and "not a visitor name" in r.err


def test_folder_report_counts_files_by_extension_and_changes(repo: Path, tmp_path: Path) -> None:
    setup(repo, tmp_path)
    files = make_tree(repo / "images")
    assert mdflow(repo, "add", "images").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    (repo / "images/new.png").write_bytes(b"\x89PNG")
    (repo / "images/a.txt").write_text("changed\n")
    assert mdflow(repo, "add", "images").code == 0
    assert mdflow(repo, "visit", "images").code == 0
    page = artifact(repo, tmp_path, "images", "reports/index.html").read_text()
    assert not EXTERNAL.search(page)
    found = section(page, "files")
    assert "1 file added" in found and "1 file changed" in found and "0 files removed" in found
    pngs = 1 + sum(1 for p in files if p.endswith(".png"))
    assert f"<td>.png</td><td>{pngs}</td>" in found
    assert "<li>new.png</li>" in found


TAGGING = """
from mdflow.visitors import Findings


class Census:
    name = "census"

    def visit(self, version, previous, out):
        frame = version.frame()
        counts = frame["species"].value_counts()
        return Findings(
            metrics={"kinds": len(counts)},
            tags={"largest": str(counts.index[0])},
            tables={"counts.json": {"species": list(counts.index), "n": counts.tolist()}},
        )


class Hostile:
    name = "hostile"

    def __init__(self, tag="ok", table="t.json"):
        self.tag, self.table = tag, table

    def visit(self, version, previous, out):
        return Findings(tags={self.tag: "x"}, tables={self.table: {"a": [1]}})
"""


def test_a_visitor_logs_tags_and_tables_and_python_runs_it(repo: Path, tmp_path: Path) -> None:
    import mdflow as api

    (repo / "census.py").write_text(TAGGING)
    setup(repo, tmp_path, "- use: census.py:Census\n  name: head-count\n")
    penguins(repo / "data/train.csv", 30, 1)
    assert mdflow(repo, "add", "data/train.csv").code == 0
    results = {v.visitor: v for v in api.visit("data/train.csv", repo=repo)}
    assert results["head-count"].status == "ran"
    assert results["head-count"].metrics == {"kinds": 3.0}
    table = json.loads(
        artifact(repo, tmp_path, "data/train.csv", "reports/head-count/counts.json").read_text()
    )
    assert table["columns"] == ["species", "n"] and [r[1] for r in table["data"]] == [10, 10, 10]
    from mlflow import MlflowClient

    run = re.search(r"runs:/([0-9a-f]+)", (repo / "data/train.csv.mdflow").read_text())
    assert run
    client = MlflowClient(f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}")
    data = client.get_run(run.group(1)).data
    assert data.tags["head-count.largest"] == "Adelie"
    assert data.metrics["head-count.kinds"] == 3.0
    assert [v.status for v in api.visit("data/train.csv", repo=repo)].count("ran") == 0


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ("{tag: ../up}", "tag name '../up' is not"),
        ("{table: ../t.json}", "table name '../t.json' is not a plain"),
        ("{table: t.csv}", "table name 't.csv' is not a plain"),
    ],
)
def test_bad_tags_and_tables_fail_the_visitor_only(
    repo: Path, tmp_path: Path, options: str, error: str
) -> None:
    (repo / "census.py").write_text(TAGGING)
    setup(repo, tmp_path, f"- use: census.py:Hostile\n  optional: true\n  options: {options}\n")
    (repo / "t.csv").write_text("a\n1\n")
    assert mdflow(repo, "add", "t.csv").code == 0
    r = mdflow(repo, "visit")
    assert r.code == 0, r.err
    assert "failed   hostile" in r.out and "ran      report" in r.out
    assert error in r.err


def png_size(path: Path) -> tuple[int, int]:
    width, height = struct.unpack(">II", path.read_bytes()[16:24])
    return width, height


def test_plots_are_grids_three_a_row_and_name_what_is_left_out(repo: Path, tmp_path: Path) -> None:
    setup(repo, tmp_path, "- use: plots\n  name: few\n  options: {max_columns: 4}\n")
    penguins(repo / "data/train.csv", 60, 1, extra=True)
    assert mdflow(repo, "add", "data/train.csv").code == 0
    r = mdflow(repo, "visit")
    assert r.code == 0, r.err
    assert "plots        data/train.csv  (left_out_columns=1, plotted_columns=5)" in r.out
    assert "few          data/train.csv  (left_out_columns=2, plotted_columns=4)" in r.out
    for name in ("histograms.png", "boxplots.png"):
        assert png_size(artifact(repo, tmp_path, "data/train.csv", f"reports/plots/{name}")) == (
            900,
            440,
        )
        assert png_size(artifact(repo, tmp_path, "data/train.csv", f"reports/few/{name}")) == (
            900,
            440,
        )
    text = artifact(repo, tmp_path, "data/train.csv", "reports/few/plots.md").read_text()
    assert "| minute | past the first 4 (option max_columns) |" in text
    assert "| empty | no finite value (every value missing) |" in text


@pytest.mark.parametrize("value", ["<script>alert(1)</script>", 'a"b'])
def test_names_and_values_are_escaped(repo: Path, tmp_path: Path, value: str) -> None:
    setup(repo, tmp_path)
    frame = pd.DataFrame({value: [1, 2, 3], "label": [value, "x", "y"]})
    frame.to_csv(repo / "t.csv", index=False)
    assert mdflow(repo, "add", "t.csv").code == 0
    assert mdflow(repo, "visit", "t.csv").code == 0
    page = artifact(repo, tmp_path, "t.csv", "reports/index.html").read_text()
    assert value not in page
    assert "<script" not in page


def visit_page(tmp_path: Path, frame: pd.DataFrame, name: str = "t.parquet", **roles: str) -> str:
    """The report page of `frame` written as a table file, with no previous version."""
    from mdflow.visitors import DatasetVersion
    from mdflow.visitors.page import Report

    path = tmp_path / name
    frame.to_parquet(path) if name.endswith(".parquet") else frame.to_csv(path, index=False)
    version = DatasetVersion(
        name, "h", "file", path.stat().st_size, lambda _: path.open("rb"), **roles
    )
    out = tmp_path / "out"
    out.mkdir()
    Report().visit(version, None, out)
    return (out / "index.html").read_text()


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame({"a": pd.Series([], dtype=float), "label": pd.Series([], dtype=str)}),
        pd.DataFrame(
            {"x": [1.0, float("inf"), -float("inf"), float("nan")], "label": list("abab")}
        ),
        pd.DataFrame(
            {
                "when": pd.date_range("2024-01-01", periods=4),
                "ok": [True, False, True, True],
                "n": [1, 1, 1, 1],
                "label": ["a", "b", "a", "b"],
            }
        ),
    ],
    ids=["no rows", "infinities", "dates, booleans, a constant"],
)
def test_odd_tables_give_a_page_with_finite_charts(tmp_path: Path, frame: pd.DataFrame) -> None:
    page = visit_page(tmp_path, frame, target="label")
    for anchor in ("overview", "schema", "statistics", "distributions", "correlations"):
        section(page, anchor)
    section(page, "target-and-prediction")
    assert not re.search(r'="[^"]*(?:nan|inf)[^"]*"', page, re.I), "a non-finite coordinate"


def test_overview_counts_duplicate_rows_and_missing_cells(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [1, 1, 2, None], "b": ["x", "x", "y", None]})
    overview = section(visit_page(tmp_path, frame, "t.csv"), "overview")
    assert "<td>duplicate rows</td><td>1</td>" in overview
    assert "<td>missing cells</td><td>2 (25.0%)</td>" in overview


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (4126.3, "4,126"),
        (2360, "2,360"),
        (999.25, "999.2"),
        (0.81789, "0.8179"),
        (12345.6, "12,346"),
    ],
)
def test_statistics_read_alike_down_a_column(value: float, shown: str) -> None:
    """Means and medians of one column: all with thousands separators from 1,000 up."""
    from mdflow.visitors.builtins import statistic

    assert statistic(value) == shown
