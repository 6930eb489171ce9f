"""A bounded memo of evaluated subexpressions, shared across candidates.

Entries are keyed by the panel and the subexpression's canonical key, so
candidates that share subtrees (a mutation changes one window, the rest of
the tree is the same) reuse each other's work. Least recently used entries go
first once ``max_bytes`` is exceeded; cached arrays are read-only.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from stratloop._types import FloatPanel
from stratloop.data.panel import Panel

__all__ = ["CacheStats", "EvalCache"]


@dataclass(frozen=True, slots=True)
class CacheStats:
    """Counters of an :class:`EvalCache`."""

    hits: int
    misses: int
    evictions: int
    entries: int
    bytes: int
    max_bytes: int

    @property
    def hit_rate(self) -> float:
        """Hits / lookups, 0.0 before any lookup."""
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0


class EvalCache:
    """LRU cache of subexpression values, bounded by total array bytes.

    Args:
        max_bytes: upper bound on the bytes of cached arrays; an array larger
            than this is never stored. Must be >= 0 (0 disables storing).
    """

    def __init__(self, max_bytes: int) -> None:
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
            msg = f"EvalCache max_bytes must be a non-negative integer but got {max_bytes!r}"
            raise ValueError(msg)
        self._max_bytes = max_bytes
        self._entries: OrderedDict[tuple[int, str], FloatPanel] = OrderedDict()
        self._panels: dict[int, tuple[Panel, int]] = {}
        self._bytes = 0
        self._hits = 0
        self._misses = 0
        self._evictions = 0
        self._lock = threading.Lock()

    def get(self, panel: Panel, key: str) -> FloatPanel | None:
        """The cached value of subexpression ``key`` on ``panel``, counting a hit or miss."""
        with self._lock:
            value = self._entries.get((id(panel), key))
            if value is None:
                self._misses += 1
                return None
            self._entries.move_to_end((id(panel), key))
            self._hits += 1
            return value

    def put(self, panel: Panel, key: str, value: FloatPanel) -> FloatPanel:
        """Store ``value`` (made read-only) and return it; evicts LRU entries to fit."""
        value.flags.writeable = False
        if value.nbytes > self._max_bytes:
            return value
        with self._lock:
            entry = (id(panel), key)
            if entry in self._entries:
                return self._entries[entry]
            self._entries[entry] = value
            self._bytes += value.nbytes
            held, count = self._panels.get(id(panel), (panel, 0))
            self._panels[id(panel)] = (held, count + 1)
            while self._bytes > self._max_bytes:
                self._evict()
        return value

    def _evict(self) -> None:
        (panel_id, _), value = self._entries.popitem(last=False)
        self._bytes -= value.nbytes
        self._evictions += 1
        held, count = self._panels[panel_id]
        if count == 1:
            del self._panels[panel_id]
        else:
            self._panels[panel_id] = (held, count - 1)

    def clear(self) -> None:
        """Drop every entry; the counters are kept."""
        with self._lock:
            self._entries.clear()
            self._panels.clear()
            self._bytes = 0

    def stats(self) -> CacheStats:
        """A snapshot of the counters."""
        with self._lock:
            return CacheStats(
                hits=self._hits,
                misses=self._misses,
                evictions=self._evictions,
                entries=len(self._entries),
                bytes=self._bytes,
                max_bytes=self._max_bytes,
            )
