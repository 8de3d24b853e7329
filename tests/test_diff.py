"""`mdflow diff` in real repositories with branches: tables, folders, renames, merge bases,
data that is not local, and the json output against its schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from conftest import clone, git, mdflow, use_server, write_csv
from servers import Server

SCHEMA = json.loads((Path(__file__).parent.parent / "schemas/diff.json").read_text())


def commit_all(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)


def write_people(path: Path, rows: list[str], header: str = "id,name,age") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *rows]) + "\n")


def diff_json(repo: Path, *args: str) -> dict[str, Any]:
    r = mdflow(repo, "diff", "--format", "json", *args)
    assert r.code == 0, r.err
    data = json.loads(r.out)
    jsonschema.validate(data, SCHEMA)
    return data


def by_path(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["path"]: d for d in report["datasets"]}


@pytest.fixture
def people(repo: Path) -> Path:
    """data/people.csv, two commits: rows added, removed and edited; a column added; a null."""
    write_people(repo / "data/people.csv", [f"{i},n{i},{20 + i}" for i in range(100)])
    assert mdflow(repo, "add", "data/people.csv").code == 0
    commit_all(repo, "v1")
    rows = [f"{i},n{i},{20 + i},{i % 3}" for i in range(100) if i not in (5, 6)]
    rows[9] = "11,renamed,31,2"  # id 11: name changed
    rows[20] = "22,,42,1"  # id 22: name now empty (a null)
    rows += ["100,new,50,0", "101,newer,51,1", "102,newest,52,2"]
    write_people(repo / "data/people.csv", rows, header="id,name,age,group")
    assert mdflow(repo, "add", "data/people.csv").code == 0
    commit_all(repo, "v2")
    return repo


def test_table_rows_and_columns_by_key(people: Path) -> None:
    (change,) = diff_json(people, "HEAD~1", "HEAD", "--key", "id")["datasets"]
    assert change["status"] == "modified" and change["path"] == "data/people.csv"
    table = change["table"]
    assert (table["rows_before"], table["rows_after"]) == (100, 101)
    columns = {c["name"]: c for c in table["columns"]}
    assert columns["group"]["status"] == "added"
    assert (columns["name"]["status"], columns["name"]["nulls_after"]) == ("nulls", 1)
    rows = table["rows"]
    assert (rows["compared_by"], rows["key"]) == ("key", ["id"])
    assert (rows["added"], rows["removed"], rows["changed"]) == (3, 2, 2)
    assert rows["unchanged"] == 96
    assert [e["after"]["id"] for e in rows["examples_added"]] == ["100", "101", "102"]
    assert [e["before"]["id"] for e in rows["examples_removed"]] == ["5", "6"]
    changed = {e["key"]["id"]: (e["before"], e["after"]) for e in rows["examples_changed"]}
    assert changed["11"] == ({"name": "n11"}, {"name": "renamed"})
    assert change["before"]["hash"] != change["after"]["hash"]


def test_key_declared_in_config_and_content_comparison(people: Path) -> None:
    (by_content,) = diff_json(people, "HEAD~1", "HEAD")["datasets"]
    rows = by_content["table"]["rows"]
    assert rows["compared_by"] == "content"
    assert (rows["added"], rows["removed"]) == (5, 4)  # edits count as one removed, one added
    cfg = people / "mdflow.yaml"
    cfg.write_text(cfg.read_text() + "datasets:\n- paths: [data/people.csv]\n  key: [id]\n")
    (by_key,) = diff_json(people, "HEAD~1", "HEAD")["datasets"]
    assert by_key["table"]["rows"]["compared_by"] == "key"


def test_text_markdown_and_stat(people: Path) -> None:
    text = mdflow(people, "diff", "HEAD~1", "HEAD", "--key", "id").out
    assert "modified data/people.csv" in text
    assert "100 → 101 (+1) rows" in text
    assert "+ column group (int64, 0 nulls)" in text
    assert "~ id=11: name: n11 → renamed" in text
    md = mdflow(people, "diff", "--format", "markdown", "HEAD~1", "HEAD", "--key", "id").out
    assert md.startswith("<!-- mdflow-diff -->\n### mdflow: 1 dataset changed")
    assert "| `data/people.csv` | modified |" in md
    assert "<details><summary><code>data/people.csv</code>" in md
    assert "| `group` | added | int64 | 0 |" in md
    assert "| id=11 | name | n11 | renamed |" in md
    stat = mdflow(people, "diff", "--stat", "HEAD~1", "HEAD").out
    assert stat.splitlines()[-1] == " 1 dataset changed (1 modified)"


def test_folder_files_added_removed_modified_renamed(repo: Path) -> None:
    top = repo / "images"
    for i in range(20):
        (top / f"cats/{i:02d}.png").parent.mkdir(parents=True, exist_ok=True)
        (top / f"cats/{i:02d}.png").write_bytes(bytes([i]) * (100 + i))
    assert mdflow(repo, "add", "images").code == 0
    commit_all(repo, "v1")
    (top / "cats/00.png").unlink()
    (top / "cats/01.png").write_bytes(b"changed")
    (top / "cats/02.png").rename(top / "cats/two.png")
    (top / "dogs").mkdir()
    (top / "dogs/new.png").write_bytes(b"woof" * 10)
    workspace = by_path(diff_json(repo))["images"]  # HEAD against the workspace, not added yet
    assert any("differs from its pointer" in n for n in workspace["notes"])
    assert mdflow(repo, "add", "images").code == 0
    commit_all(repo, "v2")
    files = by_path(diff_json(repo, "HEAD~1", "HEAD"))["images"]["files"]
    assert files == workspace["files"]
    assert (files["added"], files["removed"], files["modified"], files["renamed"]) == (1, 1, 1, 1)
    assert files["unchanged"] == 17
    changes = {c["path"]: c for c in files["changes"]}
    assert changes["dogs/new.png"] == {
        "path": "dogs/new.png",
        "status": "added",
        "size_before": None,
        "size_after": 40,
        "renamed_from": None,
    }
    assert changes["cats/two.png"]["renamed_from"] == "cats/02.png"
    assert changes["cats/01.png"]["size_before"] == 101
    assert changes["cats/00.png"]["status"] == "removed"
    part = by_path(diff_json(repo, "HEAD~1", "HEAD", "images/dogs"))["images"]["files"]
    assert [c["path"] for c in part["changes"]] == ["dogs/new.png"]
    assert diff_json(repo, "HEAD~1", "HEAD", "images/cats/03.png")["datasets"] == []


def test_thousands_of_files_are_summarised(repo: Path) -> None:
    top = repo / "many"
    top.mkdir()
    (top / "keep.txt").write_text("keep")
    assert mdflow(repo, "add", "many").code == 0
    commit_all(repo, "v1")
    for i in range(1500):
        (top / f"part{i % 3}/{i}.txt").parent.mkdir(exist_ok=True)
        (top / f"part{i % 3}/{i}.txt").write_text(str(i))
    assert mdflow(repo, "add", "many").code == 0
    commit_all(repo, "v2")
    text = mdflow(repo, "diff", "HEAD~1", "HEAD").out
    assert "+1500 -0 ~0 files" in text
    assert "… and 1,490 more (--format json lists all)" in text
    md = mdflow(repo, "diff", "--format", "markdown", "HEAD~1", "HEAD").out
    assert "… and 1,490 more files (`part0/` 500, `part1/` 500, `part2/` 500)" in md
    assert len(md.splitlines()) < 40


def test_rename_added_removed_and_exit_code(repo: Path) -> None:
    write_people(repo / "data/a.csv", ["1,x,2"])
    write_people(repo / "data/gone.csv", ["1,y,3"])
    assert mdflow(repo, "add", "data/a.csv", "data/gone.csv").code == 0
    commit_all(repo, "v1")
    assert mdflow(repo, "diff", "--exit-code").code == 0
    assert mdflow(repo, "move", "data/a.csv", "data/b.csv").code == 0
    assert mdflow(repo, "remove", "data/gone.csv").code == 0
    write_people(repo / "data/new.csv", ["1,z,4", "2,w,5"])
    assert mdflow(repo, "add", "data/new.csv").code == 0
    commit_all(repo, "v2")
    changes = by_path(diff_json(repo, "HEAD~1", "HEAD"))
    assert changes["data/b.csv"]["status"] == "renamed"
    assert changes["data/b.csv"]["renamed_from"] == "data/a.csv"
    assert changes["data/gone.csv"]["status"] == "removed"
    assert changes["data/new.csv"]["status"] == "added"
    assert changes["data/new.csv"]["table"]["rows_after"] == 2
    assert mdflow(repo, "diff", "--exit-code", "HEAD~1", "HEAD").code == 1
    narrowed = by_path(diff_json(repo, "HEAD~1", "HEAD", "data/gone.csv"))
    assert list(narrowed) == ["data/gone.csv"]


def test_three_dots_compare_from_the_merge_base(repo: Path) -> None:
    write_people(repo / "a.csv", ["1,x,2"])
    write_people(repo / "b.csv", ["1,y,3"])
    assert mdflow(repo, "add", "a.csv", "b.csv").code == 0
    commit_all(repo, "base")
    git(repo, "checkout", "-qb", "feature")
    write_people(repo / "a.csv", ["1,x,2", "2,x,3"])
    assert mdflow(repo, "add", "a.csv").code == 0
    commit_all(repo, "feature edits a")
    git(repo, "checkout", "-q", "main")
    assert mdflow(repo, "checkout").code == 0
    write_people(repo / "b.csv", ["1,y,3", "2,y,4"])
    assert mdflow(repo, "add", "b.csv").code == 0
    commit_all(repo, "main edits b")
    assert list(by_path(diff_json(repo, "main...feature"))) == ["a.csv"]
    assert list(by_path(diff_json(repo, "main", "feature"))) == ["a.csv", "b.csv"]


def test_missing_data_falls_back_to_pointers_and_says_so(people: Path, tmp_path: Path) -> None:
    theirs = clone(people, tmp_path / "teammate")  # pointers only: nothing in its cache
    (change,) = diff_json(theirs, "HEAD~1", "HEAD", "--offline")["datasets"]
    assert (change["table"]["rows_before"], change["table"]["rows_after"]) == (100, 101)
    assert change["table"]["rows"] is None
    assert any("is not available" in n for n in change["notes"])
    text = mdflow(theirs, "diff", "HEAD~1", "HEAD", "--offline").out
    assert "rows and columns compared from the pointers only" in text


def test_an_argument_that_is_a_revision_and_a_path_is_refused(people: Path) -> None:
    (people / "main").write_text("a file named like the branch")
    r = mdflow(people, "diff", "main")
    assert r.code != 0 and "both a revision and a path — write the path as ./main" in r.err


def test_an_argument_that_is_neither_a_revision_nor_a_tracked_path_is_named(
    people: Path,
) -> None:
    for args in (["nosuchrev", "HEAD"], ["HEAD~5", "HEAD"], ["data/nosuch.csv"]):
        r = mdflow(people, "diff", *args)
        assert r.code == 1 and r.err.count("\n") == 1, r.err
        assert f"error: {args[0]} is not a revision or a tracked path — " in r.err
    r = mdflow(people, "diff", "data/people.csv", "HEAD")
    assert r.code == 1 and "HEAD is a revision where a path was expected" in r.err


def test_double_dash_separates_revisions_from_paths(people: Path) -> None:
    r = mdflow(people, "diff", "HEAD~5", "HEAD", "--", "data/people.csv")
    assert r.code == 1 and "error: HEAD~5 is not a revision — " in r.err, r.err
    r = mdflow(people, "diff", "HEAD", "--", "nosuchrev")
    assert r.code == 1 and "nosuchrev is not tracked by mdflow on either side" in r.err
    (people / "main").write_text("a file named like the branch")  # after --, a path
    r = mdflow(people, "diff", "--", "main")
    assert r.code == 1 and "main is not tracked by mdflow" in r.err, r.err
    r = mdflow(people, "diff", "--stat", "HEAD~1", "HEAD", "--", "data/people.csv")
    assert r.code == 0, r.err
    assert r.out.splitlines()[-1] == " 1 dataset changed (1 modified)"
    assert diff_json(people, "HEAD~1", "--", "data/people.csv")["after"] == "workspace"


@pytest.mark.slow
def test_rows_compared_after_fetching_from_the_server(
    people: Path, tmp_path: Path, mlflow_server: Server
) -> None:
    use_server(people, mlflow_server.url, "diff-fetch")
    git(people, "checkout", "HEAD~2", "--", "data/people.csv.mdflow")  # the first version
    assert mdflow(people, "push").code == 0
    git(people, "checkout", "HEAD", "--", "data/people.csv.mdflow")
    assert mdflow(people, "push").code == 0
    theirs = clone(people, tmp_path / "teammate")
    (change,) = diff_json(theirs, "HEAD~2", "HEAD", "--key", "id")["datasets"]
    assert change["notes"] == []
    assert change["table"]["rows"]["changed"] == 2


def test_log_stat_summarises_each_version(people: Path) -> None:
    r = mdflow(people, "log", "--stat", "--no-remote", "data/people.csv")
    assert r.code == 0, r.err
    lines = [line.strip() for line in r.out.splitlines()]
    assert lines[2].endswith("100 → 101 (+1) rows, columns: 1 added, 1 with null changes")
    assert lines[4] == "first version"
    data = json.loads(
        mdflow(people, "log", "--stat", "--no-remote", "--json", "data/people.csv").out
    )
    assert [v["stat"] for v in data][1] == "first version"


def test_log_shows_each_version_commit_subject(people: Path) -> None:
    write_csv(people / "data/people.csv", 7)
    assert mdflow(people, "add", "data/people.csv").code == 0
    git(people, "commit", "-qam", "refresh the people table from the March export of the CRM")
    r = mdflow(people, "log", "--no-remote", "data/people.csv")
    assert r.code == 0, r.err
    header, newest, *older = r.out.splitlines()
    assert header.split()[5] == "SUBJECT"
    assert " refresh the people tabl… " in newest  # cut to fit the table
    assert [line.split()[7] for line in older] == ["v2", "v1"]  # after "203 B"
    subjects = [
        v["subject"]
        for v in json.loads(mdflow(people, "log", "--json", "--no-remote", "data/people.csv").out)
    ]
    assert subjects[1:] == ["v2", "v1"] and subjects[0].endswith("the CRM")
