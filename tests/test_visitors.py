"""Visitors: built-ins, user classes from a file, failures, idempotence, a 1M-row table."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import configure, git, make_tree, mdflow, pointer_hash

VISITORS = """
visitors:
- use: schema
  paths: ["*.csv"]
- use: summary
  paths: ["*.csv"]
- use: rows
"""

CUSTOM = """
import json


class LongestName:
    name = "longest"

    def __init__(self, column="name"):
        self.column = column

    def visit(self, version, previous, out):
        frame = version.frame()
        longest = frame[self.column].astype(str).str.len().max()
        (out / "longest.json").write_text(json.dumps({"longest": int(longest)}))
        return {"chars": float(longest)}


class Broken:
    name = "broken"

    def visit(self, version, previous, out):
        raise ValueError("this visitor is broken on purpose")
"""


def setup(repo: Path, tmp_path: Path, extra: str = "") -> None:
    mdflow(repo, "remote", "add", "origin", str(tmp_path / "store"))
    configure(repo, VISITORS + extra)


def reports(repo: Path, path: str) -> str:
    r = mdflow(repo, "show", path)
    assert r.code == 0, r.err
    return r.out


def test_schema_change_is_named_in_the_report(repo: Path, tmp_path: Path) -> None:
    setup(repo, tmp_path)
    (repo / "t.csv").write_text("id,score,city\n1,0.5,Oslo\n2,1.5,Lyon\n")
    mdflow(repo, "add", "t.csv")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    (repo / "t.csv").write_text("id,score,country\n1,high,NO\n2,low,FR\n3,mid,PT\n")
    mdflow(repo, "add", "t.csv")
    r = mdflow(repo, "visit")
    assert r.code == 0, r.err
    assert "ran      schema       t.csv  (columns=3, null_cells=0)" in r.out
    assert "rows_delta=1" in r.out
    text = reports(repo, "t.csv")
    assert "**Columns added:** country" in text
    assert "**Columns removed:** city" in text
    assert "**Columns retyped:** score (float64 → " in text  # → str or object by pandas
    assert "| score |" in text  # the summary table


def test_visitors_run_once_per_hash_and_options(repo: Path, tmp_path: Path) -> None:
    setup(repo, tmp_path)
    (repo / "t.csv").write_text("a,b\n1,2\n")
    mdflow(repo, "add", "t.csv")
    assert "ran      schema" in mdflow(repo, "visit").out
    again = mdflow(repo, "visit").out
    assert "ran" not in again and again.count("skipped") == 3
    assert mdflow(repo, "visit", "--force").out.count("ran") == 3
    narrowed = VISITORS.replace("- use: rows\n", "- use: rows\n  options: {}\n  paths: ['t*']\n")
    configure(repo, narrowed)
    assert mdflow(repo, "visit").out.count("ran") == 0  # same options: still done
    configure(repo, narrowed + "- use: preview\n  options: {rows: 1}\n")
    assert "ran      preview" in mdflow(repo, "visit").out


def test_user_visitor_from_a_file_and_failures(repo: Path, tmp_path: Path) -> None:
    (repo / "checks").mkdir()
    (repo / "checks/visitors.py").write_text(CUSTOM)
    extra = (
        "- use: checks/visitors.py:LongestName\n  options: {column: name}\n"
        "- use: checks/visitors.py:Broken\n  optional: true\n"
    )
    setup(repo, tmp_path, extra)
    (repo / "people.csv").write_text("name\nAda\nGrace Hopper\n")
    mdflow(repo, "add", "people.csv")
    pointer = (repo / "people.csv.mdflow").read_text()
    r = mdflow(repo, "visit")
    assert r.code == 0, r.err  # the broken visitor is optional
    assert "ran      longest      people.csv  (chars=12)" in r.out
    assert "failed   broken" in r.out
    assert "ValueError: this visitor is broken on purpose" in r.err
    cfg = repo / "mdflow.yaml"
    cfg.write_text(cfg.read_text().replace("  optional: true\n", ""))
    r = mdflow(repo, "visit")
    assert r.code == 1 and "Traceback" in r.err
    after = (repo / "people.csv.mdflow").read_text()
    assert after.startswith(pointer)  # the pointer only gained its run link
    assert set(after.splitlines()) - set(pointer.splitlines()) <= {
        line for line in after.splitlines() if line.startswith("run: ")
    }


def test_unknown_visitor_is_a_one_line_error(repo: Path, tmp_path: Path) -> None:
    setup(repo, tmp_path, "- use: no-such-visitor\n")
    (repo / "t.csv").write_text("a\n1\n")
    mdflow(repo, "add", "t.csv")
    r = mdflow(repo, "visit")
    assert r.code == 1 and r.err.startswith("mdflow: error: unknown visitor 'no-such-visitor'")


@pytest.mark.slow
def test_a_million_rows_in_bounded_memory(repo: Path, tmp_path: Path) -> None:
    setup(repo, tmp_path)
    with (repo / "big.csv").open("w") as f:
        f.write("id,value,label\n")
        for i in range(1_000_000):
            f.write(f"{i},{i * 0.25},label{i % 100}\n")
    mdflow(repo, "add", "big.csv")
    proc = subprocess.run(
        [sys.executable, "-m", "mdflow", "visit"], cwd=repo, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert "rows=1e+06" in proc.stdout
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    assert peak_mib < 1500, f"visiting 1M rows peaked at {peak_mib:.0f} MiB"
    assert proc.stdout.count("ran") == 3


ROLES = """
- use: drift
- use: plots
- use: target
datasets:
- paths: ["train.csv"]
  split: train
  target: label
  prediction: guess
"""


def table(n: int, shift: float, cats: str) -> str:
    lines = ["x,y,label,guess"]
    for i in range(n):
        label = cats[i % len(cats)]
        guess = cats[(i + 1) % len(cats)] if i % 4 == 0 else label  # wrong on every 4th row
        lines.append(f"{i * 0.01 + shift},{(i % 7) * 1.5},{label},{guess}")
    return "\n".join(lines) + "\n"


def test_drift_plots_and_target_per_split(repo: Path, tmp_path: Path) -> None:
    setup(repo, tmp_path, ROLES)
    (repo / "train.csv").write_text(table(400, 0.0, "ab"))
    mdflow(repo, "add", "train.csv")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    (repo / "train.csv").write_text(table(400, 3.0, "abbb"))  # x shifted, more b
    mdflow(repo, "add", "train.csv")
    r = mdflow(repo, "visit")
    assert r.code == 0, r.err
    drift = next(line for line in r.out.splitlines() if "drift" in line)
    assert float(drift.split("max_distance=")[1].rstrip(")")) > 0.5  # x no longer overlaps
    assert "plots        train.csv  (plotted_columns=2)" in r.out
    assert "agreement=0.75" in r.out and "share.b=0.75" in r.out
    text = reports(repo, "train.csv")
    assert "| x | numeric (KS) |" in text and "categorical (TVD)" in text
    assert "**label** in split **train**" in text
    pngs = {p.name for p in (tmp_path / "store").rglob("*.png")}
    assert pngs == {"histograms.png", "boxplots.png"}
    assert (tmp_path / "store").rglob("histograms.png").__next__().read_bytes()[:4] == b"\x89PNG"


def default_project(repo: Path, tmp_path: Path) -> None:
    """`repo` as `mdflow init` left it (its default visitors), with a folder remote."""
    assert mdflow(repo, "remote", "add", "origin", str(tmp_path / "store")).code == 0
    git(repo, "commit", "-qam", "remote")


def test_init_declares_the_default_visitors_and_no_visitors_declares_none(
    tmp_path: Path,
) -> None:
    from mdflow import config

    for flags, expected in (
        ((), ["schema", "summary", "rows", "preview", "drift", "plots", "folder"]),
        (("--no-visitors",), []),
    ):
        top = tmp_path / ("none" if flags else "default")
        top.mkdir()
        git(top, "init", "-q")
        assert mdflow(top, "init", *flags).code == 0
        text = (top / "mdflow.yaml").read_text()
        declared = config.load(top).visitors
        assert [v.use for v in declared] == expected
        assert [v.use for v in declared if v.optional] == (["plots"] if expected else [])
        assert "# Visitors write reports" in text if expected else "--no-visitors" in text


def test_default_visitors_report_without_any_yaml(repo: Path, tmp_path: Path) -> None:
    default_project(repo, tmp_path)
    (repo / "t.csv").write_text("id,n\n1,123456\n2,654321\n")
    make_tree(repo / "images")
    mdflow(repo, "add", "t.csv", "images")
    r = mdflow(repo, "visit")
    assert r.code == 0, r.err
    ran = {(line.split()[1], line.split()[2]) for line in r.out.splitlines() if "ran" in line}
    assert {("schema", "t.csv"), ("summary", "t.csv"), ("preview", "t.csv")} <= ran
    assert {("rows", "t.csv"), ("folder", "images"), ("plots", "t.csv")} <= ran
    text = reports(repo, "images")
    assert "reports/folder/folder.md" in text


def test_summary_prints_whole_numbers_in_full(repo: Path, tmp_path: Path) -> None:
    default_project(repo, tmp_path)
    (repo / "t.csv").write_text("id,n\n" + "".join(f"{i},{328500 + i}\n" for i in range(3)))
    mdflow(repo, "add", "t.csv")
    assert mdflow(repo, "visit", "t.csv").code == 0
    text = reports(repo, "t.csv")
    summary = text.split("## reports/summary/summary.md")[1].split("##")[0]
    assert "328,500" in summary and "328,502" in summary  # min and max
    assert "e+0" not in summary


def test_show_names_the_version_drift_compared_with_and_lists_pngs(
    repo: Path, tmp_path: Path
) -> None:
    default_project(repo, tmp_path)
    (repo / "t.csv").write_text(table(50, 0.0, "ab"))
    mdflow(repo, "add", "t.csv")
    assert mdflow(repo, "visit").code == 0  # records v1's run: its pointer links to it
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    v1, sha = pointer_hash(repo, "t.csv"), git(repo, "rev-parse", "HEAD").strip()
    fields = dict(line.split(": ", 1) for line in (repo / "t.csv.mdflow").read_text().splitlines())
    run = fields.get("url") or fields["run"]
    (repo / "t.csv").write_text(table(50, 3.0, "abbb"))
    mdflow(repo, "add", "t.csv")
    assert mdflow(repo, "visit").code == 0
    text = reports(repo, "t.csv")
    assert f"Compared with the previous version {v1} (commit {sha[:10]}, run {run})" in text
    others = text.split("## Other report files")[1]
    assert "- reports/plots/histograms.png" in others
    assert "- reports/plots/boxplots.png" in others
    assert "- reports/drift/drift.json" in others
