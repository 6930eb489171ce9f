"""Stable percentage rollouts.

An instance is in a rollout of ``p`` percent when its bucket, derived from
``sha256(flag name + ":" + targeting key)``, is below ``p``. The bucket depends
only on those two strings, so an instance keeps its answer across restarts and
raising the percentage only ever adds instances (10% is inside 50%).
The targeting key defaults to the instance id: ``STRATLOOP_INSTANCE_ID`` when
set, otherwise the host name.
"""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Mapping

__all__ = ["INSTANCE_ID_VARIABLE", "bucket", "in_rollout", "instance_id"]

INSTANCE_ID_VARIABLE = "STRATLOOP_INSTANCE_ID"
_BUCKETS = 10_000


def bucket(flag_name: str, targeting_key: str) -> float:
    """The instance's position in ``[0, 100)`` for ``flag_name``, in steps of 0.01.

    >>> 0.0 <= bucket("PHASE2_PYDANTIC_VALIDATION", "host-a") < 100.0
    True
    """
    digest = hashlib.sha256(f"{flag_name}:{targeting_key}".encode()).digest()
    return (int.from_bytes(digest[:8], "big") % _BUCKETS) / (_BUCKETS / 100)


def in_rollout(flag_name: str, targeting_key: str | None, percentage: float) -> bool:
    """Whether the instance ``targeting_key`` is inside a ``percentage`` rollout of a flag.

    Args:
        flag_name: the flag's variable name; different flags bucket independently.
        targeting_key: what is bucketed; ``None`` means this instance's id.
        percentage: 0 (nobody) to 100 (everybody).

    >>> in_rollout("PHASE2_PYDANTIC_VALIDATION", "host-a", 100.0)
    True
    >>> in_rollout("PHASE2_PYDANTIC_VALIDATION", "host-a", 0.0)
    False
    """
    key = instance_id() if targeting_key is None else targeting_key
    return bucket(flag_name, key) < percentage


def instance_id(environ: Mapping[str, str] | None = None) -> str:
    """This instance's id: ``STRATLOOP_INSTANCE_ID`` when set and non-empty, else the host name."""
    env = os.environ if environ is None else environ
    value = env.get(INSTANCE_ID_VARIABLE, "").strip()
    return value or socket.gethostname()
