"""`mdflow remote add/list/remove`: named remotes committed in mdflow.yaml."""

from __future__ import annotations

from mdflow import config, urls
from mdflow.config import CREDENTIALS_HINT, NAME_RULE, RemoteSection
from mdflow.errors import MdflowError
from mdflow.remote import scheme_of
from mdflow.repo import Repo

SCHEMES = ("http", "https", "file")


def add(repo: Repo, name: str, url: str, default: bool = False) -> None:
    """Name the remote at `url` in mdflow.yaml: committed, so it holds no credentials."""
    url = _checked(name, url)
    data = config.read_committed(repo.root)
    section = data.setdefault("remote", {}) or {}
    data["remote"] = section
    remotes = section.setdefault("remotes", {}) or {}
    section["remotes"] = remotes
    if name in remotes:
        raise MdflowError(
            f"remote {name!r} exists", f"remove it first: mdflow remote remove {name}"
        )
    # The experiment is fixed now, so that every clone (whatever its folder) shares it.
    remotes[name] = {"url": url, "experiment": f"mdflow/{repo.root.name}"}
    if default or not section.get("default"):
        section["default"] = name
    config.write_committed(repo.root, data)


def _checked(name: str, url: str) -> str:
    """`url` with a lower-case scheme, after refusing a bad name and credentials."""
    if not config.is_remote_name(name):
        raise MdflowError(f"{name!r} is not a valid remote name", f"choose a name of {NAME_RULE}")
    if urls.has_user_info(url):
        raise MdflowError(
            f"the remote URL {urls.redact(url)} holds a user name or password, which would be "
            f"committed in {config.FILE_NAME}",
            CREDENTIALS_HINT,
        )
    if scheme_of(url) not in SCHEMES:
        raise MdflowError(
            f"unsupported remote URL {url!r}",
            "use http(s)://host:port for an MLflow server or a folder path",
        )
    try:
        return urls.split(url).url
    except ValueError as e:
        raise MdflowError(f"unusable remote URL {url!r}: {e}", "check the URL") from None


def listed(repo: Repo) -> RemoteSection:
    """The remotes mdflow.yaml (and config.local.yaml) name, and the default one."""
    return repo.config.remote


def remove(repo: Repo, name: str) -> None:
    data = config.read_committed(repo.root)
    section = data.get("remote") or {}
    remotes = section.get("remotes") or {}
    if name not in remotes:
        raise MdflowError(f"no remote named {name!r}", "see mdflow remote list")
    del remotes[name]
    if section.get("default") == name:
        section["default"] = next(iter(remotes), None)
    config.write_committed(repo.root, data)
