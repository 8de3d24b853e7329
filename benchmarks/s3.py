"""`--s3`: push and pull through S3, served by one moto_server for the whole run.

mdflow pushes to a second `mlflow server`, whose artifacts live in `s3://BUCKET/mlflow` (the
server proxies every upload and download to moto); DVC writes to the bucket itself, each lane
under its own prefix `s3://BUCKET/dvc-SCENARIO-LANE`, so repeats never share objects. Both pay
moto's own cost per request (moto is a Python test double, slower per request than S3), which
weighs most where many small objects move: read these rows as a comparison through the same
moto, not as what S3 itself would cost.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import measure
from measure import mlflow_server
from servers import S3_ENV, create_bucket, start_moto
from tools import DVC_S3_VERSION

BUCKET = "mdflow-bench"


@contextmanager
def s3_servers(folder: Path, env: dict[str, str]) -> Iterator[dict[str, str]]:
    """Start moto_server, make the bucket, start the `mlflow server` over it; yield what the
    timed commands need in their environment (the credentials are moto's fixed test ones).
    Both servers are stopped on the way out, however it is left."""
    folder.mkdir(parents=True, exist_ok=True)
    moto, endpoint = start_moto(folder)
    try:
        _in_child("bucket", endpoint, BUCKET)
        server_env = env | S3_ENV | {"MLFLOW_S3_ENDPOINT_URL": endpoint}
        with mlflow_server(folder / "mlflow", server_env, f"s3://{BUCKET}/mlflow") as url:
            names = {"BENCH_S3_SERVER": url, "BENCH_S3_ENDPOINT": endpoint}
            yield S3_ENV | names | {"BENCH_S3_LOG": str(folder / "moto.log")}
    finally:
        _stop(moto)


def lane_remote(env: dict[str, str], lane: str) -> tuple[str, str, str]:
    """A lane's S3 remote: (mdflow's server URL, DVC's `s3://` URL, moto's endpoint); three
    empty strings without `--s3`."""
    if "BENCH_S3_SERVER" not in env:
        return "", "", ""
    return env["BENCH_S3_SERVER"], f"s3://{BUCKET}/dvc-{lane}", env["BENCH_S3_ENDPOINT"]


def about(env: dict[str, str]) -> list[str]:
    """The line the table's header gets with `--s3`."""
    if "BENCH_S3_SERVER" not in env:
        return []
    from importlib.metadata import version

    return [
        f"- S3 (`--s3`): moto_server {version('moto')} on 127.0.0.1, one for the run; mdflow"
        f" pushes through a second `mlflow server` (artifacts in s3://{BUCKET}/mlflow), DVC"
        f" (dvc-s3 {DVC_S3_VERSION}) writes to the bucket; moto's own cost per request is in"
        " both tools' numbers. git-lfs has no S3 remote (n/a)."
    ]


def forget(env: dict[str, str], url: str) -> None:
    """Delete every object under `url` (`s3://BUCKET/PREFIX`): a finished lane's DVC remote,
    as the local remote folders are deleted at the end of a repeat (moto holds small objects
    in memory, larger ones in unlinked temporary files, until they are deleted). A failure
    is told, not raised: the run goes on."""
    try:
        _in_child("forget", env["BENCH_S3_ENDPOINT"], url)
    except RuntimeError as e:
        print(f"[bench] could not delete {url} from moto: {e}", file=sys.stderr)


def _in_child(*args: str) -> None:
    """Run this file as a script in a child process. boto3 is never imported by the harness:
    it would add about 27 MiB to the harness's resident set, which every timed command's
    peak memory starts from (a forked child inherits the parent's high-water mark)."""
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise RuntimeError(f"`s3.py {' '.join(args)}` exited {done.returncode}: {last}")


def _forget(endpoint: str, url: str) -> None:
    import boto3

    bucket, prefix = url.removeprefix("s3://").split("/", 1)
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=S3_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=S3_ENV["AWS_SECRET_ACCESS_KEY"],
        region_name=S3_ENV["AWS_DEFAULT_REGION"],
    )
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/")
    for page in pages:
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:  # a page holds at most 1,000 keys, as many as one delete_objects takes
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})


def _stop(proc: subprocess.Popen[bytes]) -> None:
    measure.stop(proc)


if __name__ == "__main__":  # the child of `_in_child`: bucket ENDPOINT NAME | forget ENDPOINT URL
    if sys.argv[1] == "bucket":
        create_bucket(sys.argv[2], sys.argv[3])
    else:
        _forget(sys.argv[2], sys.argv[3])
