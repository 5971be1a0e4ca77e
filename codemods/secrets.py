"""Keep tokens out of everything the tool prints, reports, logs or writes to disk."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/@\s]+)@")
MASK = "***"


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Mask known secrets and any credentials written into a URL."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return _USERINFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)


def split_credentials(url: str) -> tuple[str, str | None]:
    """(URL without user:password, the password or token if one was in it)."""
    if "://" not in url:
        return url, None
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    secret = parts.password or parts.username
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment)), secret
