"""What a commit stages, read with the standard library alone: the pre-commit hooks' no-op
path. A commit that stages no pointer gives `mdflow hook visit` nothing to do, and
`mdflow hook check` only the proof that every dataset is clean (clean.py). Answering that
must cost a Python start and one `git diff`, not the imports of the stat cache, hashing or
pathlib: this module imports `os` and `subprocess`, nothing of mdflow.
"""

from __future__ import annotations

import os
import subprocess

CONFIG = "mdflow.yaml"
SUFFIX = ".mdflow"  # pointer.SUFFIX


def find_root() -> str | None:
    """The working tree around the current directory, when it has mdflow.yaml."""
    folder = os.path.abspath(".")
    while True:
        if os.path.exists(os.path.join(folder, ".git")):
            return folder if os.path.isfile(os.path.join(folder, CONFIG)) else None
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def staged(root: str) -> list[str]:
    """Files added or modified in the index (as hooks._staged lists them)."""
    out = subprocess.run(
        ["git", "diff", "--cached", "--name-only", "-z", "--diff-filter=AM"],
        cwd=root,
        capture_output=True,
        check=True,
    ).stdout
    return [p for p in out.decode("utf-8", "surrogateescape").split("\0") if p]


def commit_hook_passes(root: str, hook: str) -> bool:
    """`mdflow hook check` or `visit` on a commit that stages no pointer, proven to have
    nothing to say: for visit, no pointer staged; for check, also every dataset clean
    (nothing modified but not added), no staged file inside a dataset and none as large as
    hooks.max_file_size (clean.check_passes)."""
    files = staged(root)
    if any(p.endswith(SUFFIX) for p in files):
        return False
    if hook == "visit" or not files:
        return True
    from mdflow import clean

    return clean.check_passes(root, files)
