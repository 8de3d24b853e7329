"""Forked workers for many small files: results come back whole, failures stop every worker
and reach the caller, no worker outlives the loop; checkout and add through them."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import mdflow, new_repo, obj, pointer_hash

from mdflow import forks, tracking
from mdflow.checkout import checkout
from mdflow.errors import CorruptObjectError, MdflowError
from mdflow.hashing import hash_bytes
from mdflow.manifest import Manifest
from mdflow.repo import Repo
from mdflow.workspace import WorkspaceFile

N = 4 * forks.FORK_MIN  # enough for two workers, on any machine


FORKED: list[int] = []  # the workers the current test forked


@pytest.fixture
def two(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two workers even on a machine with one core; the pids of the workers forked."""
    monkeypatch.setattr(forks, "PROCESSES", 2)
    fork = os.fork

    def recorded() -> int:
        pid = fork()
        if pid:
            FORKED.append(pid)
        return pid

    FORKED.clear()
    monkeypatch.setattr(os, "fork", recorded)


def no_children_left() -> bool:
    """Every worker forked was waited for: none is left running or a zombie."""
    for pid in FORKED:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            continue
        return False
    return len(FORKED) == 2


def test_every_item_comes_back_once_from_two_other_processes(two: None) -> None:
    seen = dict(forks.forked(lambda i: (i * i, os.getpid(), forks.tag()), list(range(N))))
    assert sorted(seen) == list(range(N))
    assert all(square == i * i for i, (square, _, _) in seen.items())
    pids = {pid for _, pid, _ in seen.values()}
    assert len(pids) == 2 and os.getpid() not in pids
    assert {t for _, _, t in seen.values()} == {f"{pid}." for pid in pids}
    assert forks.tag() == ""
    assert no_children_left()


def test_too_little_work_runs_inline_in_order(two: None) -> None:
    items = list(range(forks.FORK_MIN))
    got = list(forks.forked(lambda i: os.getpid(), items))
    assert [i for i, _ in got] == items and {pid for _, pid in got} == {os.getpid()}


def test_a_workers_error_reaches_the_caller_whole(two: None) -> None:
    def fn(i: int) -> int:
        if i == N - 1:
            raise MdflowError("item broke", "mdflow fsck")
        return i

    done = []
    with pytest.raises(MdflowError) as caught:
        for i, _ in forks.forked(fn, list(range(N))):
            done.append(i)
    assert (caught.value.what, caught.value.hint) == ("item broke", "mdflow fsck")
    assert str(caught.value) == "item broke — mdflow fsck"
    assert len(done) >= forks.CHUNK  # the other worker's finished chunks still came back
    assert no_children_left()


def test_mdflow_errors_pickle_with_their_fields() -> None:
    e = pickle.loads(pickle.dumps(CorruptObjectError(hash_bytes(b"x"))))
    assert type(e) is CorruptObjectError and e.oid == hash_bytes(b"x") and e.hint


def test_an_unpicklable_error_arrives_as_its_text(two: None) -> None:
    class Local(Exception):  # a local class cannot be pickled
        pass

    def fn(i: int) -> int:
        if i == 3:
            raise Local("the reason")
        return i

    with pytest.raises(RuntimeError, match="Local: the reason"):
        list(forks.forked(fn, list(range(N))))
    assert no_children_left()


def test_an_error_stops_the_other_worker_which_cleans_up(two: None, tmp_path: Path) -> None:
    """The other worker is mid-item when the first fails: SIGTERM raises SystemExit in it,
    so its clean-up runs, and the loop ends long before its slow items would have."""
    started = time.monotonic()

    def fn(i: int) -> int:
        if i == 0:
            time.sleep(0.3)
            raise OSError(28, "No space left on device")
        part = tmp_path / f"part-{i}"
        try:  # the SIGTERM may come between the file's creation and the sleep
            part.write_bytes(b"x")
            time.sleep(0.05)  # 1,000 of these in one worker would take 50 s
        finally:
            part.unlink(missing_ok=True)
        return i

    with pytest.raises(OSError, match="No space left"):
        list(forks.forked(fn, list(range(N))))
    assert time.monotonic() - started < 20
    assert list(tmp_path.iterdir()) == []
    assert no_children_left()


def test_leaving_the_loop_early_reaps_the_workers(two: None) -> None:
    for _ in forks.forked(lambda i: time.sleep(0.001), list(range(N))):
        break
    assert no_children_left()


def big_folder(repo: Path) -> dict[str, bytes]:
    files = {f"d{i // 100:02d}/f{i:04d}.txt": f"file {i}\n".encode() for i in range(N)}
    for rel, data in files.items():
        (repo / "data" / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / "data" / rel).write_bytes(data)
    return files


def read_folder(top: Path) -> dict[str, bytes]:
    return {p.relative_to(top).as_posix(): p.read_bytes() for p in top.rglob("*") if p.is_file()}


def test_add_and_checkout_of_a_large_folder_through_workers(two: None, repo: Path) -> None:
    files = big_folder(repo)
    assert mdflow(repo, "add", "data").code == 0
    cache = repo / ".mdflow/cache"
    assert list((cache / "tmp").iterdir()) == []
    for data in files.values():
        assert obj(repo, hash_bytes(data)).read_bytes() == data
    shutil.rmtree(repo / "data")
    assert mdflow(repo, "checkout", "data").code == 0
    assert read_folder(repo / "data") == files
    assert list((repo / ".mdflow/tmp").iterdir()) == []
    with Repo.find(repo).stat_cache() as state:  # what checkout wrote is known
        assert len(state.under("data")) == N
    assert "all clean" in mdflow(repo, "status", "data").out


def test_a_corrupt_object_shared_by_files_in_both_workers_is_reported_for_each(
    two: None, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = big_folder(repo)
    same = b"the same bytes\n"
    shared = ["d00/f0000.txt", f"d{(N - 1) // 100:02d}/f{N - 1:04d}.txt"]  # one per worker
    for rel in shared:
        (repo / "data" / rel).write_bytes(same)
        files[rel] = same
    assert mdflow(repo, "add", "data").code == 0
    bad = obj(repo, hash_bytes(same))
    bad.chmod(0o644)
    bad.write_bytes(b"the same bytez\n")
    shutil.rmtree(repo / "data")
    monkeypatch.chdir(repo)
    report = checkout(Repo.find(repo), ["data"])
    assert sorted(report.corrupt) == sorted(f"data/{rel}" for rel in shared)
    assert len(report.restored) == N - 2 and not report.ok
    restored = read_folder(repo / "data")
    assert restored == {k: v for k, v in files.items() if k not in shared}
    quarantined = [p.name for p in (repo / ".mdflow/quarantine").iterdir()]
    assert len(quarantined) == 1 and quarantined[0].startswith(bad.parent.name + bad.name)


@pytest.mark.parametrize("link", ["copy", "symlink"])
def test_objects_missing_from_the_cache_are_reported_not_linked(
    two: None, repo: Path, monkeypatch: pytest.MonkeyPatch, link: str
) -> None:
    """A file absent from the workspace is copied without looking its object up first: the
    copy (or link) finds it missing, in a worker, and the report says so; no link to nothing."""
    files = big_folder(repo)
    assert mdflow(repo, "add", "data").code == 0
    (repo / "mdflow.yaml").write_text(
        (repo / "mdflow.yaml").read_text().replace("link: [reflink, copy]", f"link: [{link}]")
    )
    gone = ["d00/f0000.txt", f"d{(N - 1) // 100:02d}/f{N - 1:04d}.txt"]
    for rel in gone:
        obj(repo, hash_bytes(files[rel])).unlink()
    shutil.rmtree(repo / "data")
    monkeypatch.chdir(repo)
    report = checkout(Repo.find(repo), ["data"])
    assert sorted(report.missing_cache) == sorted(f"data/{rel}" for rel in gone)
    assert len(report.restored) == N - 2 and not report.corrupt
    assert not any((repo / "data" / rel).is_symlink() for rel in gone)
    assert read_folder(repo / "data") == {k: v for k, v in files.items() if k not in gone}


def gone(pid: int) -> bool:
    """Exited: no such process, or a zombie its new parent has not reaped yet."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


@pytest.mark.skipif(sys.platform != "linux", reason="the parent-death signal is Linux's")
def test_workers_die_with_their_parent(tmp_path: Path) -> None:
    """SIGKILL to the command: its workers do not go on writing alone."""
    script = f"""
import os, time
from mdflow import forks, tracking
forks.PROCESSES = 2
def fn(i):
    open(f"{tmp_path}/{{os.getpid()}}", "a").close()
    time.sleep(1)
list(forks.forked(fn, list(range({N}))))
"""
    proc = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 30
    while len(list(tmp_path.iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    workers = [int(p.name) for p in tmp_path.iterdir()]
    assert len(workers) == 2
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    while not all(gone(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert all(gone(pid) for pid in workers)


def test_ctrl_c_during_a_forked_checkout_leaves_no_partial_file(tmp_path: Path) -> None:
    """Ctrl-C reaches the command and its workers (one process group): each removes the file
    it was writing, the command exits 130, and the next checkout finishes the folder."""
    repo = new_repo(tmp_path / "repo")
    data = repo / "data"
    for i in range(N):
        (data / f"d{i // 100:02d}").mkdir(parents=True, exist_ok=True)
        (data / f"d{i // 100:02d}/f{i:04d}.bin").write_bytes(os.urandom(64 << 10))
    assert mdflow(repo, "add", "data").code == 0
    shutil.rmtree(data)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mdflow", "checkout"],
        cwd=repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    deadline = time.monotonic() + 60
    while sum(1 for _ in data.rglob("*.bin")) < 50 and time.monotonic() < deadline:
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    written = sum(1 for _ in data.rglob("*.bin"))
    assert proc.returncode == 130 and written < N, (proc.returncode, written, err)
    assert list((repo / ".mdflow/tmp").iterdir()) == []
    assert not [p for p in data.rglob("*") if p.is_file() and p.stat().st_size != 64 << 10]
    assert mdflow(repo, "checkout").code == 0
    assert mdflow(repo, "status").out == "1 dataset, all clean\n"


def test_ctrl_c_during_a_forked_add_leaves_nothing_in_the_cache(tmp_path: Path) -> None:
    """Files the workers made but never reported are found by the batch's marker and
    removed: no temporary file is left beside the objects or in the cache's tmp/."""
    repo = new_repo(tmp_path / "repo")
    for i in range(N):
        (repo / f"data/d{i // 100:02d}").mkdir(parents=True, exist_ok=True)
        (repo / f"data/d{i // 100:02d}/f{i:04d}.bin").write_bytes(os.urandom(64 << 10))
    cache = repo / ".mdflow/cache"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mdflow", "add", "data"],
        cwd=repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while len(list(cache.glob("??/.stage-*"))) < 50 and time.monotonic() < deadline:
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert list(cache.glob("??/.stage-*")) == [] and list((cache / "tmp").iterdir()) == []
    assert not (repo / "data.mdflow").exists()
    assert mdflow(repo, "add", "data").code == 0
    assert mdflow(repo, "fsck").code == 0


def test_a_worker_killed_without_a_word_is_an_error_not_a_short_result(two: None) -> None:
    """A worker the OOM killer takes sends nothing: the items it never did are not silently
    dropped, the loop raises once the other worker is done."""

    def fn(i: int) -> int:
        if i == 2 * forks.CHUNK + 5:  # in the middle of the first worker's second chunk
            os.kill(os.getpid(), signal.SIGKILL)
        return i

    done = []
    with pytest.raises(MdflowError, match=r"ended before its share was done \(signal 9\)"):
        for i, _ in forks.forked(fn, list(range(N))):
            done.append(i)
    assert forks.CHUNK <= len(done) < N
    assert no_children_left()


def test_workers_serve_a_process_holding_over_a_thousand_descriptors(two: None) -> None:
    """The pipes are polled, not selected: select() refuses a descriptor past 1023."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.fail(f"the test needs 1,200 descriptors; the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        assert max(held) > 1023
        assert sorted(i for i, _ in forks.forked(lambda i: i, list(range(N)))) == list(range(N))
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert no_children_left()


class TwoArguments(Exception):
    """An exception that pickles but cannot be rebuilt from its args (as many libraries')."""

    def __init__(self, what: str, where: str) -> None:
        super().__init__(f"{what} at {where}")


def test_an_error_that_cannot_be_rebuilt_arrives_as_its_text(two: None) -> None:
    """pickle.dumps succeeds in the worker, pickle.loads would fail in the parent: the
    worker's error must not turn into a TypeError about its constructor."""

    def fn(i: int) -> int:
        if i == 3:
            raise TwoArguments("the reason", "item 3")
        return i

    with pytest.raises(RuntimeError, match="TwoArguments: the reason at item 3"):
        list(forks.forked(fn, list(range(N))))
    assert no_children_left()


@pytest.mark.parametrize("count", [N, 10])  # through workers, and inline
def test_a_file_that_grows_between_scan_and_copy_is_recorded_with_the_size_copied(
    two: None, repo: Path, monkeypatch: pytest.MonkeyPatch, count: int
) -> None:
    """The file is appended to after the folder was scanned (the scan is wrapped only to
    append at that moment): the manifest's size must be that of the bytes hashed, so that
    the folder is clean right after its add, not "modified"."""
    for i in range(count):
        (repo / f"data/d{i // 100:02d}").mkdir(parents=True, exist_ok=True)
        (repo / f"data/d{i // 100:02d}/f{i:04d}.txt").write_bytes(f"file {i}\n".encode())
    grower = repo / "data/d00/f0007.txt"
    scan = tracking.scan_dir

    def scan_then_grow(r: Repo, top: Path) -> list[WorkspaceFile]:
        files = scan(r, top)
        with grower.open("ab") as f:
            f.write(b"appended after the scan\n" * 10)
        return files

    monkeypatch.setattr(tracking, "scan_dir", scan_then_grow)
    monkeypatch.chdir(repo)
    tracking.add(Repo.find(repo), ["data"])
    monkeypatch.undo()
    manifest = Manifest.from_bytes(obj(repo, pointer_hash(repo, "data")).read_bytes(), "data")
    entry = next(e for e in manifest.files if e.path == "d00/f0007.txt")
    assert entry.size == grower.stat().st_size, entry
    assert "all clean" in mdflow(repo, "status", "data").out


def test_a_file_that_grows_between_stat_and_copy_is_recorded_with_the_size_copied(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same for a file dataset: its stat is wrapped only to append at that moment."""
    data = repo / "log.txt"
    data.write_bytes(b"first line\n")
    stat = tracking.stat_file

    def stat_then_grow(r: Repo, path: Path, rel: str) -> WorkspaceFile:
        f = stat(r, path, rel)
        with data.open("ab") as out:
            out.write(b"appended after the stat\n")
        return f

    monkeypatch.setattr(tracking, "stat_file", stat_then_grow)
    monkeypatch.chdir(repo)
    (added,) = tracking.add(Repo.find(repo), ["log.txt"])
    monkeypatch.undo()
    assert added.pointer.size == data.stat().st_size
    assert added.pointer.hash == hash_bytes(data.read_bytes())
    assert "all clean" in mdflow(repo, "status", "log.txt").out


def test_ctrl_c_of_the_parent_alone_during_a_forked_add_leaves_nothing_in_the_cache(
    tmp_path: Path,
) -> None:
    """SIGINT to the process calling mdflow.add, not to its workers (a notebook kernel's
    interrupt): the files the workers made, large ones in the cache's tmp/ included, are gone
    when the KeyboardInterrupt reaches the caller, who goes on living."""
    repo = new_repo(tmp_path / "repo")
    for i in range(N):
        (repo / f"data/d{i // 100:02d}").mkdir(parents=True, exist_ok=True)
        size = (1 << 20) + 1 if i % 16 == 0 else 100  # copied through tmp/, or beside names
        (repo / f"data/d{i // 100:02d}/f{i:04d}.bin").write_bytes(os.urandom(size))
    cache = repo / ".mdflow/cache"
    script = """
import json, os, sys
import mdflow
from mdflow import forks
forks.PROCESSES = 2
try:
    mdflow.add("data")
except KeyboardInterrupt:
    left = [p for p in os.listdir(".mdflow/cache/tmp")]
    for fan in os.listdir(".mdflow/cache"):
        if len(fan) == 2:
            left += [n for n in os.listdir(f".mdflow/cache/{fan}") if n.startswith(".stage")]
    print(json.dumps(left))
"""
    proc = subprocess.Popen(
        [sys.executable, "-c", script], cwd=repo, stdout=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while len(list(cache.glob("tmp/stage-*-*-*"))) < 4 and time.monotonic() < deadline:
        time.sleep(0.002)
    os.kill(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert out and json.loads(out) == [], out


def test_workers_of_a_process_that_ignores_sigchld() -> None:
    """SIGCHLD set to SIG_IGN by the program calling mdflow: the system reaps the workers
    itself and waitpid finds none; the results still come back, and a worker killed without
    a word is still an error."""
    script = f"""
import os, signal
from mdflow import forks
from mdflow.errors import MdflowError
signal.signal(signal.SIGCHLD, signal.SIG_IGN)
forks.PROCESSES = 2
print(len(list(forks.forked(lambda i: i, list(range({N}))))))
def fn(i):
    if i == 2 * forks.CHUNK + 5:
        os.kill(os.getpid(), signal.SIGKILL)
    return i
try:
    list(forks.forked(fn, list(range({N}))))
except MdflowError as e:
    print(e.what)
"""
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == str(N)
    assert "ended before its share was done" in r.stdout.splitlines()[1]


def test_the_command_works_with_sigchld_ignored_by_its_parent(tmp_path: Path) -> None:
    """An ignored SIGCHLD is inherited through exec: add, checkout and status of a large
    folder work as with the default (git's exit codes and the workers' are not lost)."""
    repo = new_repo(tmp_path / "repo")
    files = big_folder(repo)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mdflow", *args],
            cwd=repo,
            capture_output=True,
            text=True,
            preexec_fn=lambda: signal.signal(signal.SIGCHLD, signal.SIG_IGN),
        )

    r = run("add", "data")
    assert r.returncode == 0, r.stderr
    shutil.rmtree(repo / "data")
    r = run("checkout", "data")
    assert r.returncode == 0, r.stderr
    assert read_folder(repo / "data") == files
    assert run("status").stdout == "1 dataset, all clean\n"


def test_a_worker_that_cannot_be_forked_has_its_share_done_here(
    two: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fork fails with EAGAIN when a limit on processes is reached (a container's pids.max;
    root, who runs the tests, is exempt from RLIMIT_NPROC, so the failure is faked here, for
    the second fork only): every item is still done, once, the other worker doing its own."""
    fork = os.fork
    calls = []

    def second_fails() -> int:
        calls.append(1)
        if len(calls) == 2:
            raise BlockingIOError(11, "Resource temporarily unavailable")
        return fork()

    monkeypatch.setattr(os, "fork", second_fails)
    got = list(forks.forked(lambda i: (i * i, os.getpid()), list(range(N))))
    assert sorted(i for i, _ in got) == list(range(N))
    assert all(square == i * i for i, (square, _) in got)
    pids = {pid for _, (_, pid) in got}
    assert len(pids) == 2 and os.getpid() in pids
    assert len(FORKED) == 1
    with pytest.raises(ChildProcessError):  # reaped
        os.waitpid(FORKED[0], os.WNOHANG)


def test_a_file_deleted_between_scan_and_copy_is_a_one_line_error(
    two: None, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deleted in the worker's share after the scan (which is wrapped only to delete it at
    that moment): the error names it, nothing is left in the cache, and the add, run again,
    works."""
    big_folder(repo)
    victim = repo / f"data/d{(N - 1) // 100:02d}/f{N - 1:04d}.txt"
    scan = tracking.scan_dir

    def scan_then_delete(r: Repo, top: Path) -> list[WorkspaceFile]:
        files = scan(r, top)
        victim.unlink()
        return files

    monkeypatch.setattr(tracking, "scan_dir", scan_then_delete)
    monkeypatch.chdir(repo)
    with pytest.raises(MdflowError) as caught:
        tracking.add(Repo.find(repo), ["data"])
    monkeypatch.undo()
    shown = victim.relative_to(repo).as_posix()
    assert (caught.value.what, caught.value.hint) == (
        f"{shown} vanished while it was added",
        "mdflow add data",
    )
    cache = repo / ".mdflow/cache"
    assert list(cache.glob("??/.stage-*")) == [] and list((cache / "tmp").iterdir()) == []
    assert not (repo / "data.mdflow").exists()
    assert mdflow(repo, "add", "data").code == 0
