"""The example GitHub Actions workflow: its shell step, run as CI would run it, on a clone of a
real repository with a pull-request branch. (Posting the comment needs GitHub and is not run.)
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import clone, git, mdflow, use_server, write_csv
from servers import Server

WORKFLOW = Path(__file__).parent.parent / "examples/github/mdflow-diff.yml"


def diff_step() -> dict[str, object]:
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    steps = jobs["data-diff"]["steps"]
    (step,) = [s for s in steps if s.get("id") == "diff"]
    return step  # type: ignore[no-any-return]


def commit_all(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)


@pytest.mark.slow
def test_workflow_step_writes_the_comment(
    repo: Path, tmp_path: Path, mlflow_server: Server
) -> None:
    use_server(repo, mlflow_server.url, "ci-example")
    write_csv(repo / "data/train.csv", 50)
    assert mdflow(repo, "add", "data/train.csv").code == 0
    assert mdflow(repo, "push").code == 0
    commit_all(repo, "data v1")
    git(repo, "checkout", "-qb", "more-data")
    write_csv(repo / "data/train.csv", 60, extra_column=True)
    (repo / "images").mkdir()
    (repo / "images/a.png").write_bytes(b"png")
    assert mdflow(repo, "add", "data/train.csv", "images").code == 0
    assert mdflow(repo, "push").code == 0
    commit_all(repo, "more data")

    ci = clone(repo, tmp_path / "ci")  # what actions/checkout leaves: no data, no cache
    git(ci, "checkout", "-q", "more-data")
    summary = tmp_path / "summary.md"
    step = diff_step()
    env = {**os.environ, "BASE_REF": "main", "GITHUB_STEP_SUMMARY": str(summary)}
    env.update({k: "" for k in step.get("env", {}) if k.startswith("MLFLOW_")})  # type: ignore[union-attr]
    proc = subprocess.run(
        ["bash", "-e", "-c", str(step["run"])], cwd=ci, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    comment = (ci / "mdflow-diff.md").read_text()
    assert summary.read_text() == comment
    assert comment.startswith("<!-- mdflow-diff -->\n### mdflow: 2 datasets changed")
    assert "`origin/main...HEAD (merge base)`" in comment
    assert "| `data/train.csv` | modified |" in comment
    assert "50 → 60 (+10)<br>+10 -0 rows (by content)" in comment
    assert "| `images` | added |" in comment
    assert "| `note` | added | str | 0 |" in comment
    run_links = [line for line in comment.splitlines() if line.startswith("| `data/train.csv`")]
    assert "[before](http://127.0.0.1:" in run_links[0]
    page = r"http://127\.0\.0\.1:\d+/#/experiments/\d+/runs/[0-9a-f]{32}"
    report = (
        rf"\(\[reports\]\({page}/artifactPath/reports/index\.html\?workflowType=machine_learning\)"
    )
    assert re.search(report, run_links[0]), run_links[0]
