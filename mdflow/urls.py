"""Remote URLs and the credentials they may carry (`scheme://user:password@host`).

A URL's user info never reaches a record or an output: `split` takes it out (the address
that remains is what is used, logged and linked), `redact` shows a URL with `***` in its
place, `redact_text` does the same for every URL inside a message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

MASK = "***"
# a scheme, `://`, then anything up to the last `@` before a space: user info, or worse
_USER_INFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)\S*@")
# no scheme, but `user:password@host` in the first segment: a URL that lost its scheme
_BARE = re.compile(r"^[^/]*:[^/]*@")
_BARE_IN_TEXT = re.compile(r"(?<![^\s'\"(=])[^\s'\"(=/:]+:[^\s/]*@")


@dataclass(frozen=True)
class Address:
    """A remote URL split: `url` without user info, and the user info it held."""

    url: str
    username: str | None = None
    password: str | None = None

    @property
    def has_credentials(self) -> bool:
        return self.username is not None or self.password is not None


def scheme_of(url: str) -> str:
    """The URL's scheme in lower case; `file` for a folder path."""
    head, sep, _ = url.partition("://")
    return head.lower() if sep else "file"


def has_user_info(url: str) -> bool:
    """Whether `url` carries a user name, password or token (or looks like it does)."""
    _, sep, rest = url.partition("://")
    return "@" in rest if sep else bool(_BARE.match(url))


def split(url: str) -> Address:
    """`url` with a lower-case scheme and without its user info (percent-decoded into
    `username` and `password`). A folder path is returned as it is.

    Raises ValueError for a URL whose `@` is not a plain user info (`http://u:p/q@h`,
    `http://a@b/c@d`): what a server would take for the host is not clear, so nothing is
    guessed. The message never holds the URL.
    """
    head, sep, rest = url.partition("://")
    if not sep:
        if _BARE.match(url):
            raise ValueError("a folder path that looks like user:password@host (no scheme)")
        return Address(url)
    scheme = head.lower()
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    user_info, at, host = authority.rpartition("@")
    rest = host + rest[len(authority) :]
    if "@" in rest:
        raise ValueError("an '@' outside the user info of the URL")
    _check_port(scheme, rest)
    if not at:
        return Address(f"{scheme}://{rest}")
    user, colon, password = user_info.partition(":")
    return Address(f"{scheme}://{rest}", unquote(user), unquote(password) if colon else None)


def _check_port(scheme: str, rest: str) -> None:
    if scheme in ("http", "https"):
        try:
            urlsplit(f"{scheme}://{rest}").port  # noqa: B018 - a port that is not a number raises
        except ValueError:
            raise ValueError("a port that is not a number") from None


def public(url: str) -> str:
    """`url` as it may be recorded (a dataset URI, a listing): without a password, and for
    http(s) without any user info (`https://TOKEN@host` is a token); an SSH user stays.
    The user info is what precedes the last `@` before the path, as Git reads it; nothing
    else changes, so `public(url) != url` says that `url` carries a secret."""
    head, sep, rest = url.partition("://")
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    user_info, at, host = authority.rpartition("@")
    if not sep or not at:
        return url
    path = rest[len(authority) :]
    user, colon, _ = user_info.partition(":")
    keep = f"{user}@" if user and not colon and head.lower() not in ("http", "https") else ""
    return f"{head}://{keep}{host}{path}"


def redact(url: str) -> str:
    """`url` as it may be shown: its user info replaced by `***`."""
    head, sep, rest = url.partition("://")
    if not sep:
        return _BARE.sub(f"{MASK}@", url)
    return f"{head}://{MASK}@{rest.rpartition('@')[2]}" if "@" in rest else url


def redact_text(text: str) -> str:
    """`text` with the user info of every URL in it replaced by `***`."""
    text = _USER_INFO.sub(lambda m: f"{m.group(1)}{MASK}@", text)
    return _BARE_IN_TEXT.sub(f"{MASK}@", text)
