"""Timing commands (wall time and peak memory), the floors, and the `mlflow server`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import xxhash
from tools import BIN

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from servers import free_port, wait_for

BLOCK = 1 << 20


@dataclass(frozen=True)
class Sample:
    seconds: float
    max_rss_kib: int  # the largest resident set of the command's processes
    error: str = ""  # empty when the command exited 0
    user_seconds: float = 0.0  # user time of the command and its children
    system_seconds: float = 0.0  # system time of the same
    requests: int = 0  # `--s3`: the requests moto served during the command

    @property
    def cpu_seconds(self) -> float:
        return self.user_seconds + self.system_seconds


def timed(line: str, cwd: Path, env: dict[str, str]) -> Sample:
    """Run `bash -c line`; its wall time and the peak RSS of it and its children (and with
    `--s3`, the requests moto served meanwhile: mdflow's reach it through its server)."""
    moto_log = env.get("BENCH_S3_LOG", "")
    logged = os.path.getsize(moto_log) if moto_log else 0
    start = time.perf_counter()
    proc = subprocess.Popen(
        ["bash", "-c", line], cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert proc.stderr is not None
    err = proc.stderr.read()  # until the command closes it (it exits)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stderr.close()
    cpu = usage.ru_utime, usage.ru_stime
    requests = requests_after(moto_log, logged) if moto_log else 0
    if proc.returncode != 0:
        error = f"`{line}` exited {_status(proc.returncode)}: {_kept(line, err, env)}"
        return Sample(seconds, usage.ru_maxrss, error, *cpu, requests)
    return Sample(seconds, usage.ru_maxrss, "", *cpu, requests)


def requests_after(log: str, offset: int) -> int:
    """The requests moto_server logged past `offset` of its log (one line each, written
    before the answer is sent: a command's last request is there when the command exits)."""
    with open(log, "rb") as f:
        f.seek(offset)
        return sum(1 for ln in f if b'] "' in ln and b" HTTP/1." in ln)


def _status(code: int) -> str:
    """An exit status, with the signal's name when one killed the command: -11 (SIGSEGV)."""
    if code >= 0:
        return str(code)
    try:
        return f"{code} ({signal.Signals(-code).name})"
    except ValueError:
        return str(code)


def _kept(line: str, err: bytes, env: dict[str, str]) -> str:
    """The last lines of a failed command's stderr, and where the whole of it is kept (a
    crash's stacks, from faulthandler, are longer than a table cell)."""
    tail = str(err.decode(errors="replace").strip().splitlines()[-2:])
    folder = env.get("BENCH_FAILURES")
    if not folder or not err:
        return tail
    os.makedirs(folder, exist_ok=True)
    fd, path = tempfile.mkstemp(".txt", time.strftime("%Y%m%d-%H%M%S-"), folder)
    with os.fdopen(fd, "wb") as f:
        f.write(f"$ {line}\n".encode() + err)
    return f"{tail} (whole stderr: {path})"


def untimed(lines: list[str], cwd: Path, env: dict[str, str]) -> None:
    """Set-up steps; raise RuntimeError naming the first that fails."""
    for line in lines:
        done = subprocess.run(["bash", "-c", line], cwd=cwd, env=env, capture_output=True)
        if done.returncode != 0:
            raise RuntimeError(f"`{line}` exited {done.returncode}: {done.stderr.decode()[-300:]}")


# --- floors: what no tool can beat ---------------------------------------------------------


def in_process(fn: str, path: Path) -> Sample:
    """A floor timed inside this process (no start-up): `stat walk` or `read+xxh3`."""
    start = time.perf_counter()
    (stat_walk if fn == "stat walk" else read_xxh3)(str(path))
    return Sample(time.perf_counter() - start, 0)


def stat_walk(top: str) -> int:
    """One stat per file, as a no-op status needs at least; returns the files seen."""
    if not os.path.isdir(top):
        os.stat(top)
        return 1
    seen, stack = 0, [top]
    while stack:
        with os.scandir(stack.pop()) as it:
            for entry in it:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    entry.stat(follow_symlinks=False)
                    seen += 1
    return seen


def read_xxh3(top: str) -> int:
    """Read every byte and hash it (xxh3-128), as a first add needs at least."""
    buf = bytearray(BLOCK)
    view = memoryview(buf)
    files = [top] if not os.path.isdir(top) else _files(top)
    for name in files:
        h = xxhash.xxh3_128()
        with open(name, "rb", buffering=0) as f:
            while n := f.readinto(buf):
                h.update(view[:n])
        h.hexdigest()
    return len(files)


def _files(top: str) -> list[str]:
    return [os.path.join(d, f) for d, _, names in os.walk(top) for f in names]


# --- the MLflow server mdflow pushes through ------------------------------------------------


@contextmanager
def mlflow_server(folder: Path, env: dict[str, str], artifacts: str = "") -> Iterator[str]:
    """`mlflow server` on 127.0.0.1 with a sqlite catalogue and artifacts in a local folder
    (or at `artifacts`: `s3://BUCKET/PREFIX`, with `env` naming the endpoint and credentials)."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    cmd = [
        str(BIN / "mlflow"),
        "server",
        *("--host", "127.0.0.1", "--port", str(port)),
        *("--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}"),
        *("--artifacts-destination", artifacts or str(folder / "artifacts")),
        *("--workers", "1"),
    ]
    env = env | {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "TMPDIR": str(folder)}
    with (folder / "server.log").open("ab") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_for(f"{url}/health", proc, timeout=120.0)
        except RuntimeError as e:
            raise RuntimeError(f"{e} (see {folder / 'server.log'})") from None
        yield url
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate a server, killed if it has not stopped after 10 s."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
