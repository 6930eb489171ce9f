"""The plugin boundary: commands and health probes arrive through entry points."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest
import typer

from stratloop.cli import _plugins, serve
from stratloop.config.models import StratloopConfig
from stratloop.errors import PluginError
from stratloop.service import Measurement


def _points(monkeypatch: pytest.MonkeyPatch, *points: EntryPoint) -> None:
    def listed(group: str) -> list[EntryPoint]:
        return [point for point in points if point.group == group]

    monkeypatch.setattr(_plugins, "entry_points", listed)


def _fixed(name: str) -> dict[str, Measurement]:
    return {name: Measurement(name, 1.0, "fixed")}


def probe_a(_config: StratloopConfig, _document: object) -> dict[str, Measurement]:
    return _fixed("a")


def probe_b(_config: StratloopConfig, _document: object) -> dict[str, Measurement]:
    return _fixed("b")


def broken_register(_app: typer.Typer) -> None:
    raise RuntimeError("no such group")


class TestInstalledEntryPoints:
    @pytest.mark.parametrize("group", [_plugins.CLI_GROUP, _plugins.PROBES_GROUP])
    def test_the_acceptance_package_is_declared(self, group):
        """pyproject.toml declares the guide's commands and probes."""
        names = [name for name, _ in _plugins.load_group(group)]
        assert names == ["acceptance"]


class TestLoadGroup:
    def test_entry_points_load_in_name_order(self, monkeypatch):
        """Whatever order the metadata lists them in, names decide."""
        _points(
            monkeypatch,
            EntryPoint("zeta", f"{__name__}:probe_b", _plugins.PROBES_GROUP),
            EntryPoint("alpha", f"{__name__}:probe_a", _plugins.PROBES_GROUP),
        )
        assert [name for name, _ in _plugins.load_group(_plugins.PROBES_GROUP)] == ["alpha", "zeta"]

    def test_a_broken_entry_point_is_named_not_swallowed(self, monkeypatch):
        """An entry point that cannot be imported stops with an error naming it."""
        _points(monkeypatch, EntryPoint("broken", "stratloop.no_such_module:x", _plugins.CLI_GROUP))
        with pytest.raises(PluginError, match=r"'broken' \(stratloop.no_such_module:x\)"):
            _plugins.load_group(_plugins.CLI_GROUP)

    def test_a_failing_register_is_named(self, monkeypatch):
        """A register callable that raises stops with an error naming its entry point."""
        _points(monkeypatch, EntryPoint("bad", f"{__name__}:broken_register", _plugins.CLI_GROUP))
        with pytest.raises(PluginError, match=r"'bad' of group stratloop\.cli.*no such group"):
            _plugins.register_commands(typer.Typer())


class TestHealthProbes:
    def test_no_entry_point_means_no_probes(self, monkeypatch):
        """The service runs without probes; their metrics are then not measured."""
        _points(monkeypatch)
        assert serve.health_probes(StratloopConfig.model_validate(_DOC), _DOC) is None

    def test_every_probe_is_measured_into_one_mapping(self, monkeypatch):
        """The provider the service gets runs each installed probe."""
        _points(
            monkeypatch,
            EntryPoint("a", f"{__name__}:probe_a", _plugins.PROBES_GROUP),
            EntryPoint("b", f"{__name__}:probe_b", _plugins.PROBES_GROUP),
        )
        provider = serve.health_probes(StratloopConfig.model_validate(_DOC), _DOC)
        assert provider is not None
        assert sorted(provider()) == ["a", "b"]


_DOC = {"version": 1, "generation": {"use_factor_graph": True, "innovation_rate": 0}}
