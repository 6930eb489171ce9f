"""The persistent factor library as one run sees it: fixed at the start, compared, added to.

A run reads the library (:class:`~stratloop.factors.saved.FactorStore`, at
``library.path``) once, when it starts, and keeps the entries it read in its
directory (``library.json``); a resumed run reads them from there, so it
sees exactly the entries the uninterrupted run would have, whatever other
runs saved meanwhile. From those entries it takes:

- the definitions ``factor("name")`` refers to, for the LLM's replies and the
  mutations;
- each factor's signal fingerprint on this run's panel and train window
  (computed here, once: the library keeps expressions, not data, so it works
  on any dataset). A candidate whose signal correlates above
  ``library.max_correlation`` with one of them, whatever its trading rule, is
  recorded as ``redundant`` with the factor's name. A factor that cannot be
  computed on this data (a field it lacks) has no fingerprint; the snapshot
  lists it under ``unusable`` with the reason.

It saves the run's champion by ``library.save``: when the run completes
(``end``), as each champion is accepted (``champion``), or never.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stratloop.config.models import LibraryConfig, StratloopConfig
from stratloop.data.panel import Panel
from stratloop.errors import ExpressionError, SavedFactorError
from stratloop.factors.fingerprint import FingerprintBank
from stratloop.factors.references import FactorDefinitions
from stratloop.factors.saved import (
    AddResult,
    FactorStore,
    SavedFactor,
    definitions_of,
    entry_from_json,
)
from stratloop.iteration import Redundancy
from stratloop.loop.rundir import atomic_write_json
from stratloop.spec import Strategy

__all__ = ["SNAPSHOT", "RunLibrary", "champion_entry", "open_run_library"]

SNAPSHOT = "library.json"
"""The file of the run directory that keeps the library entries the run started with."""

_ANY_RULE = "library"
"""The one fingerprint group: library factors are compared whatever their trading rule."""


class RunLibrary:
    """The library entries a run started with, their fingerprints, and where to save.

    Args:
        config: the ``library`` section.
        definitions: what ``factor("name")`` refers to: the entries the run started with.
        fingerprints: each usable entry's fingerprint on this run's train window.
        unusable: why each other entry has none.
    """

    def __init__(
        self,
        config: LibraryConfig,
        definitions: FactorDefinitions,
        fingerprints: Mapping[str, str],
        unusable: Mapping[str, str],
    ) -> None:
        self.config = config
        self.definitions = definitions
        self.unusable = dict(unusable)
        self._names = sorted(fingerprints)
        self._bank = FingerprintBank()
        for index, name in enumerate(self._names):
            self._bank.add(index, _ANY_RULE, fingerprints[name])

    @property
    def store(self) -> FactorStore:
        """The library's directory, where champions are saved."""
        if self.config.path is None:
            raise SavedFactorError("library.path", "is not set", "set library.path")
        return FactorStore(Path(self.config.path))

    def redundancy(self, fingerprint: str | None) -> Redundancy | None:
        """The library factor whose signal ``fingerprint`` nearly duplicates, if any.

        Off when ``library.max_correlation`` is 1 or there is no fingerprint.
        """
        threshold = self.config.max_correlation
        if fingerprint is None or threshold >= 1.0:
            return None
        similar = self._bank.most_similar(_ANY_RULE, fingerprint)
        if similar is None or similar.correlation <= threshold:
            return None
        return Redundancy(
            of_iteration=None,
            correlation=round(similar.correlation, 6),
            threshold=threshold,
            library_factor=self._names[similar.iteration],
        )

    def save(self, champion: Mapping[str, Any], run_id: str) -> AddResult:
        """Save a champion (``ChampionTracker.as_dict()``) into the library.

        Raises:
            SavedFactorError: the entry cannot be written, or an existing one is corrupt.
        """
        return self.store.add(champion_entry(champion, run_id))


def champion_entry(
    champion: Mapping[str, Any], run_id: str, *, name: str | None = None
) -> SavedFactor:
    """The library entry of a run's champion (``champion.json``, ``ChampionTracker.as_dict()``).

    Raises:
        SavedFactorError: the champion's record lacks a key, or ``name`` is not valid.
    """
    try:
        strategy = Strategy.model_validate(champion["spec"])
        metrics = {key: champion[key] for key in ("metric", "score", "train", "validation")}
        iteration = champion["iteration"]
    except (KeyError, TypeError, ValueError) as error:
        raise SavedFactorError(
            f"run {run_id}",
            f"its champion record is incomplete: {error}",
            "repair the run (stratloop repair RUN_ID) or resume it to write champion.json again",
        ) from error
    return SavedFactor.create(
        strategy, name=name, run_id=run_id, iteration=iteration, metrics=metrics
    )


def _started_with(path: Path, store: FactorStore) -> tuple[tuple[SavedFactor, ...], bool]:
    """The entries the run started with, and whether they were read from the library just now."""
    if not path.exists():
        return store.entries(), True
    try:
        items = json.loads(path.read_text(encoding="utf-8"))["entries"]
        names = [str(item["name"]) for item in items]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise SavedFactorError(
            str(path),
            f"is not a readable snapshot of the run's library: {error}",
            "restore it from a backup; the run resumes only with the entries it began with",
        ) from error
    return tuple(
        entry_from_json(item, path / f"{name}.json")
        for name, item in zip(names, items, strict=True)
    ), False


def open_run_library(config: StratloopConfig, run_dir: Path, panel: Panel) -> RunLibrary | None:
    """The library run ``run_dir`` uses, with its factors' fingerprints on ``panel``.

    None when ``library.path`` is not set. The first call for a run reads the
    library and keeps what it read in ``run_dir / library.json``; later calls
    (a resume) read that file instead.

    Raises:
        SavedFactorError: an entry is corrupt, edited or refers to factors in a cycle.
    """
    if config.library.path is None:
        return None
    from stratloop.backtest import Study  # noqa: PLC0415 - numpy-heavy, loaded when a run starts
    from stratloop.factors.evaluate import evaluate  # noqa: PLC0415 - as above
    from stratloop.loop.evaluation import (  # noqa: PLC0415 - as above
        evaluation_cache,
        fingerprint_sample,
    )

    store = FactorStore(Path(config.library.path))
    snapshot = run_dir / SNAPSHOT
    entries, fresh = _started_with(snapshot, store)
    definitions = definitions_of(entries, source=str(store.directory))
    study = Study(panel, config.backtest)
    sample = fingerprint_sample(study, config)
    cache = evaluation_cache(config)
    fingerprints: dict[str, str] = {}
    unusable: dict[str, str] = {}
    for name in definitions.names:
        try:
            signal = evaluate(definitions.resolve(name), study.selection, cache=cache)
        except ExpressionError as error:
            unusable[name] = error.reason
            continue
        fingerprints[name] = sample.take(signal)
    if fresh:
        atomic_write_json(
            snapshot,
            {
                "library": str(store.directory),
                "entries": [entry.to_json() for entry in entries],
                "unusable": unusable,
            },
        )
    return RunLibrary(config.library, definitions, fingerprints, unusable)
