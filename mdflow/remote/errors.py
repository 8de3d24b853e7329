"""The error of the remote layer."""

from __future__ import annotations


class RemoteError(Exception):
    """A remote operation failed; `str()` says what, for the user."""
