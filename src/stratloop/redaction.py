"""One redaction for every text that leaves the process.

History lines, audit records, error messages, configuration snapshots and
reports all pass what they say through :func:`redact_text`, and mappings
through :func:`is_secret_key`, so a credential is hidden the same way
wherever it would appear: a URL's user-info (``https://user:pass@host``),
key or token query parameters (``?api_key=…``), ``Bearer`` tokens,
OpenAI-style keys (``sk-…``), and any secret value the caller knows (the
API key read from the environment).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["REDACTED", "is_secret_key", "redact_text"]

REDACTED = "<redacted>"
"""What a secret is replaced with."""

_SECRET_KEY = re.compile(
    r"(^|[_.-])(api_?key|apikey|secret|password|passwd|token|credentials?|auth|authorization"
    r"|bearer)($|[_.-])",
    re.IGNORECASE,
)
_USERINFO = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s'\"]+@")
_SECRET_PARAM = re.compile(
    r"(?i)([?&;](?:api[_-]?key|key|token|access[_-]?token|secret|password|auth)=)[^&#\s'\"]*"
)
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")
_KEY_SHAPE = re.compile(r"\bsk-[A-Za-z0-9_-]{8,}")


def is_secret_key(key: str) -> bool:
    """Whether a mapping key (or a field path) names a secret; ``*_env`` names a variable."""
    return not key.lower().endswith("_env") and bool(_SECRET_KEY.search(key))


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every credential replaced by :data:`REDACTED`.

    Args:
        text: any message, URL or value about to leave the process.
        secrets: exact values to hide as well (e.g. the configured API key);
            empty strings are ignored.

    >>> redact_text("GET https://u:pw@host/v1?api_key=abc&x=1 failed")
    'GET https://<redacted>@host/v1?api_key=<redacted>&x=1 failed'
    """
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    text = _USERINFO.sub(rf"\g<1>{REDACTED}@", text)
    text = _SECRET_PARAM.sub(rf"\g<1>{REDACTED}", text)
    text = _BEARER.sub(rf"\g<1>{REDACTED}", text)
    return _KEY_SHAPE.sub(REDACTED, text)
