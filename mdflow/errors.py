"""One error type for everything a user can fix; the CLI prints it as one line."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class MdflowError(Exception):
    """An expected failure: `what` went wrong, `hint` says what to do next."""

    exit_code = 1

    def __init__(self, what: str, hint: str = "") -> None:
        super().__init__(what)
        self.what = what
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.what} — {self.hint}" if self.hint else self.what

    def __reduce__(self) -> tuple[object, ...]:  # pickled whole, from a forked worker
        return _rebuild, (type(self), self.args, self.__dict__)


def _rebuild(
    cls: type[MdflowError], args: tuple[object, ...], state: dict[str, object]
) -> MdflowError:
    e = cls.__new__(cls)
    e.args = args
    e.__dict__.update(state)
    return e


class NotARepoError(MdflowError):
    pass


class LockTimeoutError(MdflowError):
    pass


class FormatError(MdflowError):
    """A file mdflow reads (pointer, manifest, config) is malformed or unsupported."""


class UnsafePathError(FormatError):
    """A manifest names a path mdflow must never write (`..`, absolute, `.git`, ...)."""


def describe(e: ValidationError) -> str:
    """The first problem pydantic found, as `invalid <where>: <message>`."""
    err = e.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "value"
    return f"invalid {where}: {err['msg']}"


class CorruptObjectError(MdflowError):
    """A cache object's content does not match its name; it was moved to quarantine."""

    def __init__(self, oid: str) -> None:
        super().__init__(
            f"cache object {oid} is corrupt (moved to .mdflow/quarantine/)",
            "fetch it again with mdflow pull",
        )
        self.oid = oid
