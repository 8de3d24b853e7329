"""Dataset versions fetched through their MLflow run alone (`mdflow get runs:/<run id>`).

A version run holds the version's pointer; the objects (a folder's manifest too) are in the
store run of its experiment. No Git repository is needed: the server comes from `--remote
URL` or MLFLOW_TRACKING_URI, objects go through a temporary cache under the user cache folder,
verified as every download is, and are copied out. The run's tags and artifacts are treated
as hostile: the path is checked, the pointer and manifest parsed strictly, every byte hashed.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from mdflow import urls
from mdflow.cache import Cache
from mdflow.config import AuthConfig, LinkType
from mdflow.errors import MdflowError
from mdflow.manifest import Manifest
from mdflow.paths import check_relpath
from mdflow.pointer import Pointer
from mdflow.remote import RemoteError, RemoteSpec, connect
from mdflow.remote.inventory import RemoteIndex
from mdflow.remote.registry import Backend
from mdflow.sources import cache_home
from mdflow.transfer import pull
from mdflow.workspace import materialize

_RUN_URI = re.compile(r"^runs:/([0-9a-zA-Z]+)/?$")
_NO_SERVER = "set MLFLOW_TRACKING_URI=http://host:port or pass --remote URL"


@dataclass(frozen=True)
class Fetched:
    """A version fetched by run: what the run records, and where it was written."""

    run_id: str
    path: str  # the data path in its repository
    hash: str
    kind: str
    target: Path


def is_run_uri(text: str) -> bool:
    return text.startswith("runs:/")


def run_id_of(uri: str) -> str:
    found = _RUN_URI.match(uri)
    if found is None:
        raise MdflowError(f"{uri!r} is not a run URI", "give runs:/<run id>, as MLflow shows it")
    return found[1]


def get(uri: str, out: str | None = None, remote: str | None = None) -> Fetched:
    """Write the version the run `uri` (runs:/<id>) records at `out` (default: its name in
    the current folder), fetched from the server `remote` (default: MLFLOW_TRACKING_URI)."""
    run_id = run_id_of(uri)
    server = remote or os.environ.get("MLFLOW_TRACKING_URI")
    if not server:
        raise MdflowError(f"no MLflow server to fetch {uri} from", _NO_SERVER)
    return fetch(run_id, [server], out)


def load(run_id: str, servers: list[str | None], dst_path: str | None) -> Path:
    """What MLflow's `load()` of a version run's dataset returns: the version, written into
    `dst_path` (default: a new temporary folder), fetched from the first server that has it."""
    folder = Path(dst_path) if dst_path else Path(tempfile.mkdtemp(prefix="mdflow-load-"))
    folder.mkdir(parents=True, exist_ok=True)
    return fetch(run_id, [s for s in servers if s], None, folder).target


def fetch(run_id: str, servers: list[str], out: str | None, folder: Path | None = None) -> Fetched:
    """Fetch from the first of `servers` that answers for the run (the last error else)."""
    failure: MdflowError | None = None
    for server in dict.fromkeys(servers):
        try:
            backend = connect(_spec(server, run_id), Path.cwd())
        except (RemoteError, MdflowError) as e:
            failure = e if isinstance(e, MdflowError) else _failed(run_id, server, e)
            continue
        try:
            return _fetch(backend, run_id, out, folder)
        except RemoteError as e:
            raise _failed(run_id, server, e) from e
        finally:
            backend.close()
    raise failure or MdflowError(f"no MLflow server to fetch run {run_id} from", _NO_SERVER)


def _failed(run_id: str, server: str, e: Exception) -> MdflowError:
    return MdflowError(
        f"cannot fetch run {run_id} from {urls.redact(server)}: {e}",
        "check the run id and the server (--remote URL or MLFLOW_TRACKING_URI)",
    )


def _spec(server: str, run_id: str) -> RemoteSpec:
    """The server as a remote opened on the run's experiment (an embedded store: its folder,
    or MLflow's `sqlite:///<folder>/mlflow.db`)."""
    if server.startswith("sqlite:///") and server.endswith("/mlflow.db"):
        server = server.removeprefix("sqlite://").removesuffix("/mlflow.db")
    scheme = urls.scheme_of(server)
    if scheme not in ("http", "https", "file"):
        raise MdflowError(f"cannot fetch runs from {urls.redact(server)}", _NO_SERVER)
    if scheme == "file" and not Path(server.removeprefix("file://"), "mlflow.db").is_file():
        raise MdflowError(f"no MLflow store at {server}", _NO_SERVER)
    try:
        found = urls.split(server)
    except ValueError as e:
        raise MdflowError(f"unusable server URL {urls.redact(server)}: {e}", _NO_SERVER) from None
    auth = None
    if found.has_credentials:
        auth = AuthConfig(username=found.username, password=found.password)
    return RemoteSpec("server", found.url, "", auth, shared=False, run=run_id)


def _fetch(backend: Backend, run_id: str, out: str | None, folder: Path | None) -> Fetched:
    recorded = backend.catalog.version_of_run(run_id)
    where = f"run {run_id}"
    try:
        check_relpath(recorded.path)
    except ValueError as e:
        raise MdflowError(
            f"{where} has an unusable mdflow.path tag: {e}", "check the run"
        ) from None
    pointer = Pointer.from_yaml(recorded.pointer_text, f"{where}: its pointer")
    name = PurePosixPath(recorded.path).name
    target = Path(os.path.abspath(out or (folder or Path.cwd()) / name))
    if os.path.lexists(target):
        raise MdflowError(f"{target} already exists", "remove it, or name another place with -o")
    tmp_home = cache_home() / "tmp"
    tmp_home.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="get-", dir=tmp_home))
    try:
        cache = Cache(tmp / "cache")
        index = RemoteIndex(backend.store, tmp / "remote")
        _pull(cache, index, {pointer.hash}, where)
        if pointer.kind == "file":
            materialize(cache, pointer.hash, target, [LinkType.copy])
        else:
            manifest = Manifest.from_bytes(cache.path(pointer.hash).read_bytes(), where)
            _pull(cache, index, {f.hash for f in manifest.files}, where)
            target.mkdir(parents=True)
            for entry in manifest.files:
                materialize(cache, entry.hash, target / entry.path, [LinkType.copy], entry.exec)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return Fetched(run_id, recorded.path, pointer.hash, pointer.kind, target)


def _pull(cache: Cache, index: RemoteIndex, oids: set[str], where: str) -> None:
    failed = pull(cache, index, oids).failed
    if failed:
        oid, why = sorted(failed.items())[0]
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        raise MdflowError(
            f"cannot fetch {oid} of {where}: {why}{more}",
            "push the version from a clone that has it (mdflow push)",
        )
