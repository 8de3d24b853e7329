"""mdflow: version datasets next to your code with Git, with MLflow as storage backend.

Importing this package stays cheap: no MLflow, pandas or pyarrow is imported here. The Python
API (docs/api.md) lives in `mdflow.api` and is loaded on first use of one of its names:

>>> import mdflow
>>> train = mdflow.read("data/train.csv", rev="v1.0")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:  # what type checkers see; at run time __getattr__ loads them
    from mdflow.api import add as add
    from mdflow.api import get as get
    from mdflow.api import get_path as get_path
    from mdflow.api import log_input as log_input
    from mdflow.api import open as open
    from mdflow.api import pull as pull
    from mdflow.api import push as push
    from mdflow.api import read as read
    from mdflow.api import read_run_input as read_run_input
    from mdflow.api import versions as versions
    from mdflow.errors import MdflowError as MdflowError

API = (
    "add",
    "get",
    "get_path",
    "log_input",
    "open",
    "pull",
    "push",
    "read",
    "read_run_input",
    "versions",
)
__all__ = ["API", "MdflowError", "__version__", *API]


def __getattr__(name: str) -> Any:
    if name in API:
        from mdflow import api

        return getattr(api, name)
    if name == "MdflowError":
        from mdflow.errors import MdflowError

        return MdflowError
    raise AttributeError(f"module 'mdflow' has no attribute {name!r}")
