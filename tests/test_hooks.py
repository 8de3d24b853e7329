"""The Git hooks through real pre-commit, in real repositories (and `pre-commit try-repo`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import configure, git, mdflow, pointer_hash, write_csv
from servers import Server

ROOT = Path(__file__).parent.parent


@pytest.fixture
def hooked(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mlflow_server: Server
) -> Path:
    """A repository with `mdflow install` done, the real MLflow server as its remote (an
    experiment of its own) and a bare Git remote."""
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("MDFLOW_NO_PROGRESS", "1")
    assert mdflow(repo, "remote", "add", "origin", mlflow_server.url).code == 0
    cfg = repo / "mdflow.yaml"
    cfg.write_text(cfg.read_text().replace("mdflow/repo", f"mdflow/{tmp_path.name}"))
    r = mdflow(repo, "install")
    assert r.code == 0, r.err
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "hooks")
    subprocess.run(["git", "init", "-q", "--bare", str(tmp_path / "bare.git")], check=True)
    git(repo, "remote", "add", "origin", str(tmp_path / "bare.git"))
    return repo


def commit(repo: Path, message: str) -> subprocess.CompletedProcess[str]:
    """`git commit`, with the hooks' output (which git prints on stderr) in `.stdout`."""
    return subprocess.run(
        ["git", "commit", "-m", message],
        cwd=repo,
        text=True,
        check=False,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def test_install_sets_up_every_hook_type(hooked: Path) -> None:
    config = (hooked / ".pre-commit-config.yaml").read_text()
    assert "default_install_hook_types:" in config and "entry: mdflow hook check" in config
    for hook in ("pre-commit", "pre-push", "post-checkout", "post-merge"):
        assert (hooked / ".git/hooks" / hook).exists(), hook
    assert mdflow(hooked, "install").code == 0  # idempotent: one local repo entry
    assert (hooked / ".pre-commit-config.yaml").read_text().count("repo: local") == 1


def test_install_says_what_to_stage_only_when_it_changed_files(repo: Path) -> None:
    r = mdflow(repo, "install")
    assert r.code == 0, r.err
    assert "next: git add .pre-commit-config.yaml .gitattributes" in r.err
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "hooks")
    r = mdflow(repo, "install")
    assert r.code == 0 and "next:" not in r.err, r.err
    (repo / ".gitattributes").write_text("*.bin binary\n")
    r = mdflow(repo, "install")
    assert r.code == 0 and "next: git add .gitattributes\n" in r.err, r.err


def test_commit_checks(hooked: Path) -> None:
    write_csv(hooked / "data.csv", 20)
    mdflow(hooked, "add", "data.csv")
    git(hooked, "add", "-A")
    assert commit(hooked, "new dataset").returncode == 0

    write_csv(hooked / "data.csv", 30)  # changed data, stale pointer staged alongside
    (hooked / "data.csv.mdflow").write_text((hooked / "data.csv.mdflow").read_text() + "note: x\n")
    git(hooked, "add", "data.csv.mdflow")
    r = commit(hooked, "stale pointer")
    assert r.returncode == 1 and "data.csv: the data differs from its staged pointer" in r.stdout
    mdflow(hooked, "add", "data.csv")
    git(hooked, "add", "data.csv.mdflow")
    assert commit(hooked, "data v2").returncode == 0

    git(hooked, "add", "-f", "data.csv")
    r = commit(hooked, "data into git")
    assert r.returncode == 1 and "git rm -r --cached data.csv" in r.stdout
    git(hooked, "rm", "-q", "--cached", "data.csv")

    (hooked / "big.bin").write_bytes(os.urandom(2 << 20))
    git(hooked, "add", "big.bin")
    r = commit(hooked, "big file")
    assert r.returncode == 1 and "mdflow add big.bin" in r.stdout
    git(hooked, "rm", "-q", "--cached", "big.bin")

    (hooked / "code.py").write_text("print('unrelated')\n")
    git(hooked, "add", "code.py")
    assert commit(hooked, "code only").returncode == 0


def test_a_commit_uploads_its_versions_and_pre_push_the_rest(hooked: Path) -> None:
    write_csv(hooked / "data.csv", 20)
    mdflow(hooked, "add", "data.csv")
    git(hooked, "add", "-A")
    assert commit(hooked, "data").returncode == 0
    assert mdflow(hooked, "status", "--remote", "--exit-code").code == 0  # the commit did
    write_csv(hooked / "data.csv", 30)
    mdflow(hooked, "add", "data.csv")
    git(hooked, "commit", "-qam", "no hooks ran", "--no-verify")  # nothing uploaded
    assert mdflow(hooked, "status", "--remote", "--exit-code").code == 1
    r = subprocess.run(
        ["git", "push", "-q", "origin", "main"], cwd=hooked, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert mdflow(hooked, "status", "--remote", "--exit-code").code == 0


def test_pre_push_check_only_refuses_until_data_is_pushed(hooked: Path) -> None:
    (hooked / "mdflow.yaml").write_text(
        (hooked / "mdflow.yaml").read_text() + "hooks:\n  push: check\n"
    )
    write_csv(hooked / "data.csv", 20)
    mdflow(hooked, "add", "data.csv")
    git(hooked, "add", "-A")
    assert commit(hooked, "data").returncode == 0
    r = subprocess.run(
        ["git", "push", "origin", "main"], cwd=hooked, capture_output=True, text=True
    )
    assert r.returncode != 0 and "run mdflow push" in r.stdout + r.stderr
    assert mdflow(hooked, "push").code == 0
    r = subprocess.run(
        ["git", "push", "origin", "main"], cwd=hooked, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_post_checkout_warns_about_stale_data(hooked: Path) -> None:
    write_csv(hooked / "data.csv", 20)
    mdflow(hooked, "add", "data.csv")
    git(hooked, "add", "-A")
    commit(hooked, "v1")
    write_csv(hooked / "data.csv", 25)
    mdflow(hooked, "add", "data.csv")
    git(hooked, "commit", "-qam", "v2")
    r = subprocess.run(["git", "checkout", "HEAD~1"], cwd=hooked, capture_output=True, text=True)
    assert (
        "1 dataset does not match its pointer (data.csv) — run mdflow checkout"
        in r.stdout + r.stderr
    )
    # a per-machine preference: restore instead of warning
    (hooked / ".mdflow/config.local.yaml").write_text("hooks:\n  checkout: restore\n")
    subprocess.run(["git", "checkout", "-q", "main"], cwd=hooked, check=True)  # data is v2 again
    r = subprocess.run(["git", "checkout", "HEAD~1"], cwd=hooked, capture_output=True, text=True)
    assert "1 file restored" in r.stdout + r.stderr
    assert mdflow(hooked, "status", "--exit-code").code == 0


def try_repo(repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), "mdflow-check"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )


@pytest.mark.slow
def test_hooks_through_try_repo(hooked: Path) -> None:
    """`pre-commit try-repo` against this repository's .pre-commit-hooks.yaml (builds a venv)."""
    write_csv(hooked / "data.csv", 20)
    mdflow(hooked, "add", "data.csv")
    git(hooked, "add", "-A")
    r = try_repo(hooked)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "mdflow check" in r.stdout and "Passed" in r.stdout
    (hooked / "big.bin").write_bytes(os.urandom(2 << 20))
    git(hooked, "add", "big.bin")
    r = try_repo(hooked)
    assert r.returncode == 1 and "mdflow add big.bin" in r.stdout


def test_one_commit_records_the_run_and_its_reports(hooked: Path) -> None:
    configure(hooked, "visitors:\n- use: schema\n- use: rows\n")
    git(hooked, "commit", "-qam", "visitors")
    write_csv(hooked / "data.csv", 20)
    mdflow(hooked, "add", "data.csv")
    git(hooked, "add", "-A")
    r = commit(hooked, "new dataset")
    assert r.returncode == 0, r.stdout
    assert "files were modified by this hook" not in r.stdout
    committed = git(hooked, "show", "HEAD:data.csv.mdflow")
    assert "run: runs:/" in committed  # in the same commit, no second one
    assert git(hooked, "status", "--porcelain") == ""
    shown = mdflow(hooked, "show", "data.csv")
    assert shown.code == 0 and "reports/schema/schema.md" in shown.out
    assert committed.split("run: ")[1].split("\n")[0] in shown.out

    (hooked / "notes.txt").write_text("no data here\n")
    git(hooked, "add", "notes.txt")
    r = commit(hooked, "unrelated")
    assert r.returncode == 0 and "reported on" not in r.stdout


def test_a_failing_visitor_fails_the_commit(hooked: Path) -> None:
    (hooked / "bad.py").write_text(
        "class Bad:\n    name = 'bad'\n\n"
        "    def visit(self, v, p, out):\n        raise RuntimeError('nope')\n"
    )
    configure(hooked, "visitors:\n- use: bad.py:Bad\n")
    git(hooked, "add", "-A")
    git(hooked, "commit", "-qm", "visitor")
    write_csv(hooked / "data.csv", 5)
    mdflow(hooked, "add", "data.csv")
    git(hooked, "add", "-A")
    r = commit(hooked, "data")
    assert r.returncode == 1 and "RuntimeError: nope" in r.stdout
    assert "Traceback" in r.stdout


def mlflow_tags(server: Server, hooked: Path, oid: str) -> dict[str, str]:
    """The tags of the version run of `oid` in this test's experiment (one run per version)."""
    from mlflow import MlflowClient

    client = MlflowClient(server.url)
    exp = client.get_experiment_by_name(f"mdflow/{hooked.parent.name}")
    (run,) = client.search_runs([exp.experiment_id], filter_string=f"tags.`mdflow.hash` = '{oid}'")
    return dict(run.data.tags)


def log_json(repo: Path, path: str) -> list[dict[str, object]]:
    import json

    r = mdflow(repo, "log", path, "--json")
    assert r.code == 0, r.err
    return json.loads(r.out)  # type: ignore[no-any-return]


def test_version_runs_name_the_commit_that_holds_them(hooked: Path, mlflow_server: Server) -> None:
    commits = {}
    for rows in (20, 30):
        write_csv(hooked / "data.csv", rows)
        mdflow(hooked, "add", "data.csv")
        git(hooked, "add", "-A")
        r = commit(hooked, f"{rows} rows")
        assert r.returncode == 0, r.stdout
        commits[pointer_hash(hooked, "data.csv")] = git(hooked, "rev-parse", "HEAD").strip()
    for oid, sha in commits.items():  # the commit itself, not its parent (HEAD at pre-commit)
        tags = mlflow_tags(mlflow_server, hooked, oid)
        assert tags["mdflow.git.commit"] == sha and "mdflow.pending" not in tags
    assert {v["hash"]: v["commit"] for v in log_json(hooked, "data.csv")} == commits
    assert git(hooked, "status", "--porcelain") == ""  # post-commit touched no file


def test_a_failed_commit_records_no_version(hooked: Path, mlflow_server: Server) -> None:
    write_csv(hooked / "data.csv", 20)
    mdflow(hooked, "add", "data.csv")
    git(hooked, "add", "-A")
    assert commit(hooked, "v1").returncode == 0
    v1, v1_data = pointer_hash(hooked, "data.csv"), (hooked / "data.csv").read_bytes()
    push = subprocess.run(["git", "push", "-q", "origin", "main"], cwd=hooked, capture_output=True)
    assert push.returncode == 0  # pre-push: v1's data is on the remote

    write_csv(hooked / "data.csv", 30)
    mdflow(hooked, "add", "data.csv")
    v2 = pointer_hash(hooked, "data.csv")
    write_csv(hooked / "data.csv", 40)  # edited again: the staged pointer is stale
    git(hooked, "add", "data.csv.mdflow")
    r = commit(hooked, "stale pointer")
    assert r.returncode == 1 and "differs from its staged pointer" in r.stdout
    assert mlflow_tags(mlflow_server, hooked, v2)["mdflow.pending"] == "true"
    assert [v["hash"] for v in log_json(hooked, "data.csv")] == [v1]  # v2 is no version
    mdflow(hooked, "add", "data.csv")  # keep the edit in the cache: pull may replace it
    r2 = mdflow(hooked, "pull", "data.csv", "--version", "latest")
    assert r2.code == 0, r2.err
    assert (hooked / "data.csv").read_bytes() == v1_data


def test_the_first_commit_logs_the_default_visitors_reports(hooked: Path) -> None:
    write_csv(hooked / "data.csv", 20)  # mdflow.yaml is as `mdflow init` wrote it
    mdflow(hooked, "add", "data.csv")
    git(hooked, "add", "-A")
    r = commit(hooked, "first data")
    assert r.returncode == 0, r.stdout
    for visitor in ("schema", "summary", "rows", "preview", "plots"):
        assert f"mdflow: {visitor} reported on data.csv" in r.stdout
    shown = mdflow(hooked, "show", "data.csv")
    assert "## reports/summary/summary.md" in shown.out and "reports/plots/" in shown.out


def test_a_commit_without_mdflow_add_names_the_changed_data(hooked: Path) -> None:
    write_csv(hooked / "data.csv", 20)
    mdflow(hooked, "add", "data.csv")
    git(hooked, "add", "-A")
    assert commit(hooked, "v1").returncode == 0
    write_csv(hooked / "data.csv", 30)  # changed, never added
    (hooked / "code.py").write_text("print('train')\n")
    git(hooked, "add", "code.py")
    r = commit(hooked, "code")
    assert r.returncode == 0, r.stdout  # a warning by default
    assert "mdflow: warning: data.csv changed in the workspace" in r.stdout
    assert "run mdflow add data.csv && git add data.csv.mdflow" in r.stdout

    cfg = hooked / "mdflow.yaml"
    cfg.write_text(cfg.read_text() + "hooks:\n  modified_data: fail\n")
    git(hooked, "add", "mdflow.yaml")
    r = commit(hooked, "strict")
    assert r.returncode == 1 and "mdflow: data.csv changed in the workspace" in r.stdout
    assert mdflow(hooked, "add", "data.csv").code == 0
    git(hooked, "add", "data.csv.mdflow")
    r = commit(hooked, "data v2 and strict")
    assert r.returncode == 0 and "changed in the workspace" not in r.stdout, r.stdout
