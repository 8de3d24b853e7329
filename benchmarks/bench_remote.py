"""Remote benchmark: push and pull through a real MLflow server with S3 artifacts, in one run.

Starts its own moto_server (S3 on 127.0.0.1) and an `mlflow server` whose artifacts live in a
bucket on it, then times, on the data of bench_local.py (one large file, many small files):
  - mdflow push / pull through the MLflow server;
  - DVC push / pull to an S3 remote on the same moto server;
  - the reference: MLflow's own client uploading and downloading the large file as one
    artifact through the same server (plain HTTP through the same proxy).
Each tool: cold push, no-op push, cold pull into a fresh clone (empty cache), no-op pull.

Prints seconds, MB/s and files/s, ratios mdflow/DVC and mdflow/MLflow client, and mdflow's
targets. A tool that cannot be installed is shown as n/a; numbers are never guessed.
See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from bench_local import (
    ENV,
    HERE,
    Cmd,
    Failed,
    Results,
    Scenario,
    Tool,
    cell,
    check_clean,
    commit,
    copy_cmd,
    find_dvc,
    find_mdflow,
    first_line,
    fmt_row,
    guarded,
    log,
    make_data,
    median_time,
    new_repo,
    ratio,
    remove_tree,
    run,
    run_all,
    works,
)

sys.path.insert(0, str(HERE.parent / "tests"))
from servers import free_port, wait_for

BIN = Path(sys.executable).parent
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
BUCKET = "mdflow-bench"
PUSH, NOOP_PUSH = "push, cold", "push, no-op"
PULL, NOOP_PULL = "pull, cold (fresh clone)", "pull, no-op"
OPS = (PUSH, NOOP_PUSH, PULL, NOOP_PULL)
CLIENT = "mlflow client"
COLUMNS = ("mdflow", "dvc", CLIENT)
# Unset, MLflow 3 clients ask the server; one with S3 artifacts advertises presigned URLs, so
# downloads and uploads of files >= 500 MiB go straight to S3 instead of through the server.
PROXY_VARS = ("MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD", "MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD")
REFERENCE, IMPORT, MODE = "reference", "import mlflow", "transfer mode"
# MLflow's environment as mdflow sets it (mdflow.remote.mlflow.connection), for the reference
# client.
SETTINGS_CODE = """
import json, os, sys, time
try:
    from mdflow.remote.mlflow.connection import _ENV_DEFAULTS
except (ImportError, AttributeError):
    _ENV_DEFAULTS = {"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
for key, value in _ENV_DEFAULTS.items():
    os.environ.setdefault(key, value)
"""
MODE_CODE = (
    SETTINGS_CODE + "print(', '.join(f'{v}={os.environ.get(v, \"unset\")}' for v in sys.argv[1:]))"
)
# The reference: one artifact up and down with MlflowClient, timing the two calls only (not
# the process start or the imports).
CLIENT_CODE = (
    SETTINGS_CODE
    + """
start = time.perf_counter()
from mlflow import MlflowClient
imported = time.perf_counter() - start
url, path, dest = sys.argv[1:4]
client = MlflowClient(url)
run_id = client.create_run(client.create_experiment(os.path.basename(dest))).info.run_id
start = time.perf_counter()
client.log_artifact(run_id, path)
up = time.perf_counter() - start
start = time.perf_counter()
client.download_artifacts(run_id, os.path.basename(path), dest)
down = time.perf_counter() - start
print(json.dumps({"upload": up, "download": down, "import": imported}))
"""
)


# --- servers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Servers:
    s3: str  # endpoint of moto_server
    mlflow: str  # the mlflow server, artifacts in s3://BUCKET/artifacts


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def start(cmd: Cmd, env: dict[str, str], log_file: Path, health: str, stack: ExitStack) -> None:
    """Start a server (stopped when `stack` closes) and wait until `health` answers."""
    with log_file.open("ab") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    stack.callback(stop, proc)
    wait_for(health, proc, timeout=120.0)


def mlflow_cmd(folder: Path, port: int, workers: int) -> Cmd:
    return [
        str(BIN / "mlflow"),
        "server",
        *("--host", "127.0.0.1", "--port", str(port)),
        *("--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}"),
        *("--artifacts-destination", f"s3://{BUCKET}/artifacts"),
        *("--workers", str(workers)),
    ]


@contextmanager
def servers(folder: Path, workers: int) -> Iterator[Servers]:
    """moto_server, a bucket on it, and an mlflow server storing its artifacts there."""
    tmp = folder / "tmp"  # both servers spool uploads here
    tmp.mkdir(parents=True)
    env = {**os.environ, **S3_ENV, "TMPDIR": str(tmp)}
    with ExitStack() as stack:
        port = free_port()
        s3 = f"http://127.0.0.1:{port}"
        moto = [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]
        start(moto, env, folder / "moto.log", f"{s3}/moto-api/", stack)
        create_bucket(s3)
        port = free_port()
        env |= {"MLFLOW_S3_ENDPOINT_URL": s3, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        url = f"http://127.0.0.1:{port}"
        start(mlflow_cmd(folder, port, workers), env, folder / "mlflow.log", f"{url}/health", stack)
        yield Servers(s3, url)


def s3_client(endpoint: str) -> Any:
    import boto3  # in the project's .venv (test extra); only for the bucket

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=S3_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=S3_ENV["AWS_SECRET_ACCESS_KEY"],
        region_name=S3_ENV["AWS_DEFAULT_REGION"],
    )


def create_bucket(endpoint: str) -> None:
    s3_client(endpoint).create_bucket(Bucket=BUCKET)


def bucket_usage(endpoint: str) -> str:
    """Objects and bytes in the bucket by top folder: how many requests each tool made."""
    usage: dict[str, list[int]] = {}
    for page in s3_client(endpoint).get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for obj in page.get("Contents", []):
            top = usage.setdefault(obj["Key"].split("/", 1)[0], [0, 0])
            top[0] += 1
            top[1] += obj["Size"]
    parts = [f"{k}/ {n:,} objects, {b / 1e6:,.0f} MB" for k, (n, b) in sorted(usage.items())]
    return f"S3 bucket at the end: {'; '.join(parts) or 'empty'}"


# --- tools --------------------------------------------------------------------------------


def find_dvc_s3(venv: Path, install: bool) -> Tool | str:
    """DVC with its S3 plugin (`dvc[s3]`), in its own virtualenv."""
    dvc = find_dvc(venv, install)
    python = str(venv / "bin" / "python")
    if isinstance(dvc, str) or works([python, "-c", "import dvc_s3"]):
        return dvc
    if install:
        log(f"installing dvc[s3] into {venv} (once)")
        works([python, "-m", "pip", "install", "-q", "dvc[s3]"])
    if works([python, "-c", "import dvc_s3"]):
        return dvc
    return f"dvc-s3 missing in {venv} (rerun without --no-install, or pip install 'dvc[s3]')"


def find_client() -> Tool | str:
    if works([sys.executable, "-c", "import mlflow"]):
        return Tool(CLIENT, [sys.executable])
    return f"mlflow cannot be imported by {sys.executable} (run: make bench-remote)"


def find_tools(work: Path, install: bool) -> dict[str, Tool | str]:
    return {
        "mdflow": find_mdflow(),
        "dvc": find_dvc_s3(work / "dvc-venv", install),
        CLIENT: find_client(),
    }


def remote_cmds(tool: Tool, srv: Servers, name: str) -> list[Cmd]:
    """Configure the remote: mdflow the MLflow server, DVC a folder of the bucket."""
    if tool.name == "mdflow":
        return [[*tool.exe, "remote", "add", "-d", "origin", srv.mlflow]]
    remote = [*tool.exe, "remote"]
    return [
        [*remote, "add", "-d", "s3", f"s3://{BUCKET}/dvc/{name}"],
        [*remote, "modify", "s3", "endpointurl", srv.s3],
    ]


# --- measuring ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    srv: Servers
    repos: Path
    jobs: list[str]  # ["-j", "N"], or [] for each tool's default
    cold: int  # cold rounds (fresh repository, remote folder and clone each; median shown)
    noop: int  # runs of each no-op (median shown)


def sync_cmd(tool: Tool, verb: str, st: Setup) -> Cmd:
    return [*tool.exe, verb, *st.jobs]


def round_dirs(tool: Tool, sc: Scenario, st: Setup, i: int) -> tuple[Path, Path]:
    """Repository and clone of round `i`: a fresh name is a fresh experiment or S3 folder."""
    repo = st.repos / f"{tool.name}-{sc.target}-{i}"
    return repo, repo.with_name(repo.name + "-clone")


def prepare(tool: Tool, sc: Scenario, st: Setup, repo: Path) -> None:
    """A committed repository tracking the data, with the remote configured (not timed)."""
    new_repo(repo, tool)
    run(copy_cmd(sc.source, repo / sc.target), repo)
    run_all([*tool.add(sc), *remote_cmds(tool, st.srv, repo.name)], repo)
    commit(repo)


def verify(sc: Scenario, dest: Path) -> None:
    try:
        run(["diff", "-rq", str(sc.source), str(dest)], dest.parent)
    except Failed as e:
        raise Failed(f"pulled data differs from the original: {e}") from e


def cold_round(tool: Tool, sc: Scenario, st: Setup, i: int) -> tuple[float, float]:
    """Push from a fresh repository, pull into a fresh clone of it: (push, pull) seconds."""
    repo, clone = round_dirs(tool, sc, st, i)
    prepare(tool, sc, st, repo)
    os.sync()
    pushed = run(sync_cmd(tool, "push", st), repo)
    commit(repo)  # mdflow links pointers to their runs: a teammate clones that
    run(["git", "clone", "-q", str(repo), str(clone)], st.repos)
    os.sync()
    pulled = run(sync_cmd(tool, "pull", st), clone)
    verify(sc, clone / sc.target)
    return pushed, pulled


def noops(tool: Tool, sc: Scenario, st: Setup, res: Results) -> None:
    """No-op push and pull in the last round's repository and clone, then remove them."""
    repo, clone = round_dirs(tool, sc, st, st.cold - 1)
    res.put(
        sc.title, NOOP_PUSH, tool.name, median_time([sync_cmd(tool, "push", st)], repo, st.noop)
    )
    res.put(
        sc.title, NOOP_PULL, tool.name, median_time([sync_cmd(tool, "pull", st)], clone, st.noop)
    )
    check_clean(repo, tool)
    check_clean(clone, tool)
    remove_tree(repo)
    remove_tree(clone)


def client_round(client: Tool, sc: Scenario, st: Setup, i: int) -> tuple[float, float, float]:
    """Upload and download the file as one artifact: (upload, download, import) seconds."""
    dest = st.repos / f"client-{i}"
    dest.mkdir(parents=True)
    os.sync()
    cmd = [*client.exe, "-c", CLIENT_CODE, st.srv.mlflow, str(sc.source), str(dest)]
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise Failed(f"MlflowClient exited {proc.returncode}: {proc.stderr.strip()[-300:]}")
    verify(sc, dest / sc.source.name)
    remove_tree(dest)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return float(out["upload"]), float(out["download"]), float(out["import"])


Times = dict[str, list[tuple[float, ...]]]  # by tool: (push, pull[, import]) of each round


def one_round(tool: Tool, sc: Scenario, st: Setup, i: int, times: Times) -> None:
    """Cold round `i` of one tool; its previous round's folders are removed first."""
    if tool.name == CLIENT:
        times.setdefault(tool.name, []).append(client_round(tool, sc, st, i))
        return
    for path in round_dirs(tool, sc, st, i - 1) if i else ():
        remove_tree(path)
    times.setdefault(tool.name, []).append(cold_round(tool, sc, st, i))


def put_medians(tool: Tool, sc: Scenario, runs: list[tuple[float, ...]], res: Results) -> None:
    res.put(sc.title, PUSH, tool.name, statistics.median(r[0] for r in runs))
    res.put(sc.title, PULL, tool.name, statistics.median(r[1] for r in runs))
    if tool.name == CLIENT:
        res.put(REFERENCE, IMPORT, tool.name, statistics.median(r[2] for r in runs))


def failed(res: Results, sc: Scenario, tool: Tool) -> bool:
    return res.rows.get((sc.title, PUSH), {}).get(tool.name) == "failed"


def bench_scenario(tools: list[Tool], sc: Scenario, st: Setup, res: Results) -> None:
    """Cold rounds, the tools in a rotating order (none always meets a fresh server first),
    then each tool's no-ops. The reference is one artifact: the large file only."""
    tools = [t for t in tools if t.name != CLIENT or not sc.is_dir]
    times: Times = {}
    for i in range(st.cold):
        for tool in tools[i % len(tools) :] + tools[: i % len(tools)]:
            if not failed(res, sc, tool):
                log(f"{tool.name}: {sc.title}, cold round {i + 1} of {st.cold}")
                ops = (PUSH, PULL) if tool.name == CLIENT else OPS
                guarded(tool, sc.title, ops, res, partial(one_round, tool, sc, st, i, times))
    for tool in tools:
        if not failed(res, sc, tool):
            put_medians(tool, sc, times[tool.name], res)
            if tool.name != CLIENT:
                guarded(tool, sc.title, OPS, res, partial(noops, tool, sc, st, res))


# --- report -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Amount:
    """What a data set holds: bytes and files, for the rates."""

    bytes: int
    files: int


def amount(sc: Scenario) -> Amount:
    if not sc.is_dir:
        return Amount(sc.source.stat().st_size, 1)
    sizes = [(Path(d) / f).stat().st_size for d, _, fs in os.walk(sc.source) for f in fs]
    return Amount(sum(sizes), len(sizes))


def rates(seconds: float | str | None, op: str, data: Amount) -> list[str]:
    if not isinstance(seconds, float) or seconds <= 0 or op not in (PUSH, PULL):
        return ["-", "-"]
    files = data.files / seconds
    return [f"{data.bytes / 1e6 / seconds:.1f}", f"{files:,.0f}" if files >= 10 else f"{files:.2f}"]


def table(res: Results, data: dict[str, Amount], tools: dict[str, Tool | str]) -> list[str]:
    short = {"mdflow": "mdflow", "dvc": "dvc", CLIENT: "client"}
    head = ["operation (median)"]
    for name in COLUMNS:
        head += [f"{short[name]} s", "MB/s", "files/s"]
    head += ["mdflow/dvc", "mdflow/client"]
    widths = [26] + [max(8, len(h)) for h in head[1:]]
    lines = [fmt_row(head, widths), fmt_row(["-" * w for w in widths], widths)]
    for section, amt in data.items():
        lines.append(section)
        for op in OPS:
            lines.append(fmt_row(row(res, section, op, amt, tools), widths))
    return lines


def row(
    res: Results, section: str, op: str, data: Amount, tools: dict[str, Tool | str]
) -> list[str]:
    cols = res.rows.get((section, op), {})
    cells = [f"  {op}"]
    for name in COLUMNS:
        value = cols.get(name, "n/a" if isinstance(tools[name], str) else None)
        cells += [cell(value), *rates(value, op, data)]
    mine = cols.get("mdflow")
    return [*cells, ratio(mine, cols.get("dvc")), ratio(mine, cols.get(CLIENT))]


def check(label: str, value: str, target: str, met: bool | None) -> str:
    verdict = "not measured" if met is None else "met" if met else "MISSED"
    return f"  {label:<44}{value:>14}   target {target:<18}{verdict}"


def targets(res: Results, big: Scenario, small: Scenario, files: int) -> list[str]:
    def seconds(sc: Scenario, op: str, col: str = "mdflow") -> float | None:
        value = res.rows.get((sc.title, op), {}).get(col)
        return value if isinstance(value, float) else None

    lines = ["mdflow targets"]
    for op, what in (
        (PUSH, "push / MLflow client upload"),
        (PULL, "pull / MLflow client download"),
    ):
        mine, ref = seconds(big, op), seconds(big, op, CLIENT)
        r = mine / ref if mine is not None and ref else None
        text = f"{r:.2f}x" if r is not None else "-"
        lines.append(check(f"large file: {what}", text, "<= 2x", None if r is None else r <= 2))
    for op in (PUSH, PULL):
        s = seconds(small, op)
        rate = files / s if s else None
        text = f"{rate:,.0f} files/s" if rate is not None else "-"
        met = None if rate is None else rate >= 1000
        lines.append(check(f"small files: {op}", text, ">= 1,000 files/s", met))
    for sc in (big, small):
        for op in (NOOP_PUSH, NOOP_PULL):
            s = seconds(sc, op)
            text = f"{s:.3f} s" if s is not None else "-"
            lines.append(check(f"{sc.title}: {op}", text, "< 1 s", None if s is None else s < 1))
    return lines


def dist(python: Path, name: str) -> str:
    """The installed version of a Python distribution."""
    return first_line(
        [str(python), "-c", f"import importlib.metadata as m; print(m.version({name!r}))"]
    )


def version(name: str, tool: Tool | str, work: Path) -> str:
    if isinstance(tool, str):
        return f"{name}: unavailable: {tool}"
    if name == CLIENT:
        python = Path(sys.executable)
        return (
            f"{name}: mlflow {dist(python, 'mlflow')} (as the server), moto {dist(python, 'moto')}"
        )
    text = f"{name}: {first_line([*tool.exe, '--version'])}"
    if name == "dvc":
        text += f", dvc-s3 {dist(work / 'dvc-venv' / 'bin' / 'python', 'dvc-s3')}"
    return text


def transfer_mode() -> str:
    """Whether MLflow clients (mdflow's and the reference) send bytes through the server."""
    settings = first_line([sys.executable, "-c", MODE_CODE, *PROXY_VARS])
    return f"MLflow transfers (mdflow and the reference): {settings} (unset: the server decides)"


def versions(tools: dict[str, Tool | str], work: Path, st: Setup) -> list[str]:
    source = first_line(["git", "-C", str(HERE.parent), "describe", "--always", "--dirty"])
    return [
        *(version(name, tool, work) for name, tool in tools.items()),
        f"mdflow source: {source}",
        f"parallel transfers: {' '.join(st.jobs) or 'each tool default'}",
        transfer_mode(),
        f"cores: {os.cpu_count()}, load average: {os.getloadavg()[1]:.2f} (5 min, at the end)",
    ]


# --- main ---------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--size-mb", type=int, default=1024, help="size of the large file (MiB)")
    p.add_argument("--files", type=int, default=10_000, help="number of small files")
    p.add_argument("--repeat", type=int, default=3, help="runs of each no-op (median shown)")
    p.add_argument("--cold-repeat", type=int, default=3, help="cold rounds (median shown)")
    p.add_argument("-j", "--jobs", type=int, help="parallel transfers for both tools")
    p.add_argument(
        "--signed-urls",
        action="store_true",
        help=f"{' and '.join(PROXY_VARS)}=true for mdflow and the\n"
        "MLflow client: downloads and uploads of 500 MiB or more go straight to S3 with\n"
        "signed URLs. Default: false, every byte through the server (mdflow's default)",
    )
    p.add_argument("--server-workers", type=int, default=1, help="mlflow server --workers")
    p.add_argument("--work", type=Path, default=HERE / "work", help="scratch folder")
    p.add_argument("--no-install", action="store_true", help="do not install DVC or dvc[s3]")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    return p.parse_args()


def measure(
    args: argparse.Namespace, base: Path, tools: dict[str, Tool | str], scenarios: list[Scenario]
) -> tuple[Results, Setup, str]:
    """Start the servers, run every tool on every data set; (results, setup, bucket usage)."""
    available = [t for t in tools.values() if isinstance(t, Tool)]
    jobs = ["-j", str(args.jobs)] if args.jobs else []
    res = Results()
    with servers(base / "servers", args.server_workers) as srv:
        log(f"moto_server at {srv.s3}, mlflow server at {srv.mlflow}")
        st = Setup(srv, base / "repos", jobs, max(1, args.cold_repeat), max(1, args.repeat))
        for sc in scenarios:
            bench_scenario(available, sc, st, res)
        return res, st, bucket_usage(srv.s3)


def report(
    res: Results, st: Setup, about: list[str], tools: dict[str, Tool | str], sc: list[Scenario]
) -> str:
    data = {s.title: amount(s) for s in sc}
    goals = targets(res, sc[0], sc[1], data[sc[1].title].files)
    return "\n".join([*about, "", *table(res, data, tools), "", *goals, "", legend(st, res)])


def legend(st: Setup, res: Results) -> str:
    value = res.rows.get((REFERENCE, IMPORT), {}).get(CLIENT)
    imported = f"{value:.3f} s" if isinstance(value, float) else "not measured"
    return "\n".join(
        [
            f"cold: median of {st.cold} round(s), each a fresh repository, remote folder and "
            f"clone; no-op: median of {st.noop} runs.",
            "MB/s: 10^6 bytes of data per second; mdflow/X < 1 means mdflow is faster.",
            "client: MlflowClient log_artifact / download_artifacts of the large file through "
            "the same server,",
            f"timing the calls only: its process start and `import mlflow` ({imported}) are not "
            "counted;",
            "mdflow's times include its own.",
        ]
    )


def main() -> int:
    args = parse_args()
    work = args.work.resolve()
    base = work / "remote"
    remove_tree(base)
    ENV["DVC_SITE_CACHE_DIR"] = str(base / "dvc-site")  # DVC's per-repository state, cleaned up
    ENV.update(S3_ENV)  # DVC reads its S3 credentials from the environment
    ENV.update(dict.fromkeys(PROXY_VARS, "true" if args.signed_urls else "false"))
    tools = find_tools(work, not args.no_install)
    scenarios = make_data(work / "data", args.size_mb, args.files)
    try:
        res, st, usage = measure(args, base, tools, scenarios)
    except RuntimeError as e:
        log(f"stopped: {e}")
        return 1
    finally:
        for leftover in ("repos", "dvc-site", "servers/tmp", "servers/mlflow.db"):
            remove_tree(base / leftover)
        log(f"server logs: {base / 'servers'}")
    about = [*versions(tools, work, st), usage]
    print(report(res, st, about, tools, scenarios))
    if args.json:
        write_json(args.json, about, res)
    return 0


def write_json(path: Path, about: list[str], res: Results) -> None:
    rows = [{"section": s, "operation": o, **c} for (s, o), c in res.rows.items()]
    path.write_text(json.dumps({"about": about, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
