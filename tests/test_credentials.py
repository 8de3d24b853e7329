"""Remote names and credentials: a name never leaves .mdflow/remotes/, a password never leaves
the machine-local places it is given in (.mdflow/config.local.yaml, the environment)."""

from __future__ import annotations

import base64
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from conftest import Result, clone, git, mdflow, mdflow_proc, shared_project, write_csv
from servers import Server, free_port

from mdflow import urls
from mdflow.config import RemoteConfig, RemoteSection
from mdflow.errors import MdflowError
from mdflow.pointer import Pointer
from mdflow.remote import Remote, RemoteSpec, open_remote

SECRET = "Cn4ryQz-s3cret"  # a fake password that must never show up


def one_line_error(r: Result) -> str:
    assert r.code == 1, r.out + r.err
    assert r.err.startswith("mdflow: error: ") and r.err.count("\n") == 1, r.err
    return r.err


# --- remote names --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../../zz", "..", ".", "a/b", "a\\b", "x y", "", "a\nb"])
def test_remote_add_refuses_a_name_that_is_not_an_identifier(repo: Path, name: str) -> None:
    before = (repo / "mdflow.yaml").read_text()
    err = one_line_error(mdflow(repo, "remote", "add", name, str(repo.parent / "store")))
    assert f"{name!r} is not a valid remote name" in err and "letters, digits" in err
    assert (repo / "mdflow.yaml").read_text() == before
    assert mdflow(repo, "remote", "add", "team-store_2.old", str(repo.parent / "s")).code == 0


def test_a_committed_remote_name_cannot_write_outside_the_repository(
    repo: Path, tmp_path: Path
) -> None:
    write_csv(repo / "t.csv", 3)
    assert mdflow(repo, "add", "t.csv").code == 0
    bad = "../../../outside/pwn"
    (repo / "mdflow.yaml").write_text(
        f"mdflow: 1\nremote:\n  default: {bad}\n  remotes:\n"
        f"    {bad}:\n      url: {tmp_path / 'store'}\n"
    )
    for args in (("push",), ("pull",), ("status", "--remote"), ("remote", "list")):
        err = one_line_error(mdflow(repo, *args))
        assert f"mdflow.yaml names a remote {bad!r}" in err and "rename it in mdflow.yaml" in err
    assert not (tmp_path / "outside").exists() and not (tmp_path / "store").exists()
    assert not (repo / ".mdflow/remotes").exists()


def test_a_local_remote_name_or_default_is_checked_too(repo: Path, tmp_path: Path) -> None:
    local = repo / ".mdflow/config.local.yaml"
    local.write_text(f"remote:\n  remotes:\n    ../x:\n      url: {tmp_path / 'store'}\n")
    err = one_line_error(mdflow(repo, "push"))
    assert "config.local.yaml names a remote '../x'" in err
    local.write_text("remote:\n  default: ../../x\n")
    err = one_line_error(mdflow(repo, "status", "--remote"))
    assert "config.local.yaml names a remote '../../x'" in err
    assert not (tmp_path / "store").exists() and not (repo.parent / "x").exists()


def test_the_remote_state_folder_refuses_a_bad_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a remote name"):
        RemoteSection(remotes={"../x": RemoteConfig(url="store")})
    # a section that skipped validation: the remote itself refuses to open
    unchecked = RemoteSection.model_construct(
        default="../x",
        remotes={"../x": RemoteConfig(url="store")},
    )
    with pytest.raises(MdflowError, match=re.escape("'../x' is not a valid remote name")):
        open_remote(unchecked, tmp_path, tmp_path / ".mdflow")
    spec = RemoteSpec("origin", "store", "mdflow/x", None, shared=True)
    with pytest.raises(MdflowError, match="not a valid remote name"):
        Remote(spec, tmp_path, tmp_path / "elsewhere")  # the state folder is not named after it
    assert not (tmp_path / ".mdflow").exists()


# --- credentials in URLs -------------------------------------------------------------------

ENCODED = quote(SECRET + "/@:", safe="")
URLS_WITH_CREDENTIALS = [
    f"http://alice:{SECRET}@mlflow.example:5000",
    f"HTTP://alice:{SECRET}@mlflow.example:5000",
    f"https://{SECRET}@mlflow.example",
    f"http://alice:{ENCODED}@mlflow.example:5000",
    f"https://alice:{SECRET}@mlflow.example:443/path?x=1#frag",
    f"file://{SECRET}@host/srv/store",
    f"alice:{SECRET}@mlflow.example:5000",
    f"http://alice:{SECRET}/x@mlflow.example",
    f"http://a@{SECRET}@mlflow.example",
]


def test_split_and_redact() -> None:
    found = urls.split(f"HTTPS://alice:{ENCODED}@h.example:8443/p")
    assert found == urls.Address("https://h.example:8443/p", "alice", SECRET + "/@:")
    assert urls.split(f"https://{SECRET}@h") == urls.Address("https://h", SECRET, None)
    assert urls.split("http://h:5000") == urls.Address("http://h:5000")
    assert urls.split("/srv/a@b/store") == urls.Address("/srv/a@b/store")
    for bad in (f"http://u:{SECRET}/x@h", f"alice:{SECRET}@h:1", "http://h:port"):
        with pytest.raises(ValueError) as e:
            urls.split(bad)
        assert SECRET not in str(e.value)
    for url in URLS_WITH_CREDENTIALS:
        assert urls.has_user_info(url), url
        shown = urls.redact(url)
        assert "***@" in shown and SECRET not in shown and ENCODED not in shown, shown
        text = urls.redact_text(f"cannot open ({url}): no {url!r} either")
        assert SECRET not in text and ENCODED not in text, text
    assert not urls.has_user_info("/srv/a@b/store")
    assert urls.redact("http://h:5000/x") == "http://h:5000/x"


@pytest.mark.parametrize("url", URLS_WITH_CREDENTIALS)
def test_remote_add_refuses_credentials_in_the_url(repo: Path, url: str) -> None:
    before = (repo / "mdflow.yaml").read_text()
    r = mdflow(repo, "remote", "add", "origin", url, "--default")
    err = one_line_error(r)
    assert "holds a user name or password" in err and ".mdflow/config.local.yaml" in err
    assert "MLFLOW_TRACKING_PASSWORD" in err and "MLFLOW_TRACKING_TOKEN" in err
    assert SECRET not in r.out + r.err and ENCODED not in r.err
    assert (repo / "mdflow.yaml").read_text() == before


def test_a_committed_url_with_credentials_is_refused(repo: Path) -> None:
    (repo / "mdflow.yaml").write_text(
        f"mdflow: 1\nremote:\n  remotes:\n    origin:\n      url: https://{SECRET}@h.example\n"
    )
    for args in (("remote", "list"), ("push",), ("status",)):
        r = mdflow(repo, *args)
        err = one_line_error(r)
        assert "mdflow.yaml holds a user name or password in the URL of remote 'origin'" in err
        assert "https://***@h.example" in err and "config.local.yaml" in err
        assert SECRET not in r.out + r.err


def test_a_local_url_with_credentials_is_shown_redacted(repo: Path) -> None:
    port = free_port()  # nothing listens there
    assert mdflow(repo, "remote", "add", "origin", f"http://127.0.0.1:{port}").code == 0
    write_csv(repo / "t.csv", 3)
    assert mdflow(repo, "add", "t.csv").code == 0
    (repo / ".mdflow/config.local.yaml").write_text(
        f"remote:\n  remotes:\n    origin:\n      url: http://alice:{SECRET}@127.0.0.1:{port}\n"
    )
    r = mdflow(repo, "remote", "list")
    assert r.code == 0 and f"origin\thttp://***@127.0.0.1:{port} (default)" in r.out
    r = mdflow(repo, "push")
    assert f"cannot reach the MLflow server at http://***@127.0.0.1:{port} " in one_line_error(r)
    assert SECRET not in r.out + r.err
    (repo / ".mdflow/config.local.yaml").write_text(
        f"remote:\n  remotes:\n    origin:\n      url: file://alice:{SECRET}@host/store\n"
    )
    r = mdflow(repo, "push")
    assert "a folder takes no credentials" in one_line_error(r) and SECRET not in r.err


def test_a_url_in_a_pointer_is_read_without_its_credentials(repo: Path) -> None:
    text = (
        "mdflow: 1\npath: t.csv\nkind: file\nhash: xxh3-128:" + "0" * 32 + "\nsize: 1\n"
        f"run: runs:/abc\nurl: http://alice:{SECRET}@h:5000/#/experiments/1/runs/abc\n"
    )
    p = Pointer.from_yaml(text, "t.csv.mdflow")
    assert p.url == "http://***@h:5000/#/experiments/1/runs/abc"
    assert SECRET not in p.to_yaml()


def test_import_refuses_a_token_in_the_repository_url(repo: Path) -> None:
    for url in (f"https://{SECRET}@git.example/x.git", f"HTTPS://u:{SECRET}@git.example/x"):
        r = mdflow(repo, "import", url, "data/t.csv")
        assert "holds a password or token" in one_line_error(r) and SECRET not in r.err


def test_an_upper_case_scheme_is_a_server_not_a_folder(repo: Path, mlflow_server: Server) -> None:
    write_csv(repo / "t.csv", 3)
    assert mdflow(repo, "add", "t.csv").code == 0
    url = mlflow_server.url.replace("http://", "HTTP://")
    assert mdflow(repo, "remote", "add", "origin", url).code == 0
    assert f"url: {mlflow_server.url}\n" in (repo / "mdflow.yaml").read_text()
    cfg = repo / "mdflow.yaml"
    cfg.write_text(cfg.read_text().replace("mdflow/repo", f"mdflow/{repo.parent.name}"))
    r = mdflow(repo, "push")
    assert r.code == 0, r.err
    assert f"url: {mlflow_server.url}/#/experiments/" in (repo / "t.csv.mdflow").read_text()
    assert not (repo / "HTTP:").exists()


# --- the canary: a real password through a real workflow -----------------------------------


@pytest.fixture
def auth_server(tmp_path: Path) -> Iterator[Server]:
    """A real `mlflow server --app-name basic-auth` whose admin password is the canary."""
    folder = tmp_path / "auth-server"
    folder.mkdir()
    env = {"MLFLOW_AUTH_ADMIN_PASSWORD": SECRET, "MLFLOW_FLASK_SERVER_SECRET_KEY": "t"}
    server = Server(folder, str(folder / "artifacts"), env, args=("--app-name", "basic-auth"))
    server.start()
    yield server
    server.stop()


def canaries() -> list[bytes]:
    forms = [SECRET, quote(SECRET, safe=""), "Cn4ryQz"]
    forms.append(base64.b64encode(f"admin:{SECRET}".encode()).decode())
    return [f.encode() for f in forms]


def leaks(blob: bytes) -> list[bytes]:
    return [c for c in canaries() if c in blob]


def files_leaking(top: Path, skip: tuple[str, ...] = ()) -> list[str]:
    return [
        str(p)
        for p in sorted(top.rglob("*"))
        if p.is_file() and p.name not in skip and leaks(p.read_bytes())
    ]


def git_objects(repo: Path) -> bytes:
    """Every object of the repository, decompressed (packs too)."""
    return subprocess.run(
        ["git", "cat-file", "--batch-all-objects", "--batch"],
        cwd=repo,
        capture_output=True,
        check=True,
    ).stdout


def test_a_canary_password_never_leaves_where_it_was_given(
    tmp_path: Path, auth_server: Server
) -> None:
    port = auth_server.port
    a = tmp_path / "a"
    a.mkdir()
    git(a, "init", "-q", "-b", "main")
    env = {**os.environ, "MLFLOW_TRACKING_USERNAME": "admin", "MLFLOW_TRACKING_PASSWORD": SECRET}
    outputs: list[Result] = []

    def ok(cwd: Path, *args: str, e: dict[str, str] = env) -> Result:
        r = mdflow_proc(cwd, *args, env=e)
        outputs.append(r)
        assert r.code == 0, f"mdflow {' '.join(args)}: {r.err}"
        return r

    ok(a, "init")
    write_csv(a / "data/t.csv", 20)
    ok(a, "add", "data/t.csv")
    bad = f"http://admin:{SECRET}@127.0.0.1:{port}"
    outputs.append(mdflow_proc(a, "remote", "add", "bad", bad, env=env))
    assert outputs[-1].code == 1
    ok(a, "remote", "add", "origin", auth_server.url, "--default")
    # every machine-local place a credential can be given: auth, the URL, the environment
    (a / ".mdflow/config.local.yaml").write_text(
        "remote:\n  remotes:\n    origin:\n"
        f"      url: http://admin:{quote(SECRET, safe='')}@127.0.0.1:{port}\n"
        f"      auth: {{username: admin, password: {SECRET}}}\n"
    )
    git(a, "add", "-A")
    git(a, "commit", "-qm", "v1")
    ok(a, "push")
    git(a, "commit", "-qam", "link v1")
    write_csv(a / "data/t.csv", 30)
    ok(a, "add", "data/t.csv")
    ok(a, "push")
    git(a, "commit", "-qam", "v2")
    for args in (("log", "data/t.csv"), ("status", "--remote"), ("remote", "list")):
        ok(a, *args)
    ok(a, "diff", "HEAD~2", "HEAD")
    ok(a, "diff", "HEAD~2", "HEAD", "--format", "markdown")

    # a teammate's clone, with the credentials in its local URL only
    b = clone(a, tmp_path / "b")
    (b / ".mdflow").mkdir(exist_ok=True)
    (b / ".mdflow/config.local.yaml").write_text(
        f"remote:\n  remotes:\n    origin:\n      url: http://admin:{SECRET}@127.0.0.1:{port}\n"
    )
    bare = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING")}
    ok(b, "pull", e=bare)
    assert (b / "data/t.csv").read_bytes() == (a / "data/t.csv").read_bytes()
    ok(b, "log", "data/t.csv", e=bare)

    auth_server.stop()  # the error path: a push that cannot reach the server
    write_csv(a / "data/t.csv", 40)
    ok(a, "add", "data/t.csv")
    failed = mdflow_proc(a, "push", env=env)
    outputs.append(failed)
    assert failed.code == 1 and f"http://***@127.0.0.1:{port}" in failed.err

    printed = [f"{r.out}\n{r.err}" for r in outputs if leaks(f"{r.out}{r.err}".encode())]
    assert printed == []
    local = ("config.local.yaml",)  # where the password was put on purpose
    assert files_leaking(a, skip=local) == [] and files_leaking(b, skip=local) == []
    assert leaks(git_objects(a)) == [] and leaks(git_objects(b)) == []
    assert files_leaking(auth_server.folder, skip=("basic_auth.db",)) == []
    assert (auth_server.folder / "mlflow.db").is_file()


# --- a Git URL holding a token (mdflow get, list, read, log_input) ------------------------


def test_a_token_in_a_git_url_is_used_but_never_recorded(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CI jobs read data with `https://TOKEN@host/repo.git`: Git gets the URL (here rewritten
    to a local path by `url.<path>.insteadOf`, as no server runs), while the dataset URI logged
    to MLflow, every output and the listing name the repository without the token."""
    import mlflow
    from mlflow import MlflowClient

    import mdflow as api

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    _, v2 = shared_project(repo, str(tmp_path / "store"))
    public = "https://git.example.com/team/data.git"
    secret_url = f"https://x-access-token:{SECRET}@git.example.com/team/data.git"
    git(repo, "config", "--global", f"url.{repo}.insteadOf", secret_url)
    here = tmp_path / "elsewhere"
    here.mkdir()
    outputs = []
    for args in (["get", secret_url, "data/t.csv"], ["list", secret_url, "--json"]):
        r = mdflow(here, *args)
        assert r.code == 0, r.err
        outputs += [r.out, r.err]
    assert (here / "t.csv").read_bytes() == v2
    assert public in outputs[2]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'training.db'}")
    with mlflow.start_run() as run:
        frame = api.read("data/t.csv", repo=secret_url)
        uri = api.log_input(frame, context="train")
    assert uri.startswith(f"mdflow://{public}@")
    inputs = MlflowClient().get_run(run.info.run_id).inputs.dataset_inputs
    recorded = [str(i.dataset) + str(i.tags) for i in inputs]
    assert recorded and not any(SECRET in text for text in recorded + outputs)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "another-machine"))
    git(repo, "config", "--global", f"url.{repo}.insteadOf", public)  # a credential helper
    assert Path(mlflow.data.get_source(inputs[0]).load()).read_bytes() == v2


@pytest.mark.parametrize(
    ("given", "recorded"),
    [
        (f"https://{SECRET}@host/r.git", "https://host/r.git"),
        (f"https://user:{SECRET}@host:8443/r.git", "https://host:8443/r.git"),
        ("ssh://git@host/r.git", "ssh://git@host/r.git"),  # a user name, not a secret
        (f"ssh://git:{SECRET}@host/r.git", "ssh://host/r.git"),
        ("git@github.com:team/r.git", "git@github.com:team/r.git"),
        ("/srv/git/r.git", "/srv/git/r.git"),
        ("https://host/r@x.git", "https://host/r@x.git"),  # an `@` in the path is the path's
        (f"https://u:{SECRET}@h/x@y", "https://h/x@y"),
    ],
)
def test_the_recorded_form_of_a_git_url(given: str, recorded: str) -> None:
    assert urls.public(given) == recorded
