"""Named deployment environments: ``environments/<name>.yaml``.

An environment names the configuration file and the locations that differ
between machines: the data source, the runs directory, the audit-trail path
and the service URL. Its locations are an explicit layer of the effective
configuration: file < environment locations < ``STRATLOOP_`` variables < CLI.
Relative paths in an environment file are relative to the root (the directory
``stratloop`` runs in, normally the repository root).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stratloop.config._yaml import YamlProblem, load_yaml
from stratloop.config.loader import load_config, read_document
from stratloop.config.models import StratloopConfig
from stratloop.config.overrides import Layer, apply_layer
from stratloop.errors import ConfigFileError, EnvironmentNotFoundError
from stratloop.flags import Flags

__all__ = [
    "DEFAULT_ENVIRONMENT",
    "DEFAULT_SERVICE_URL",
    "Environment",
    "known_environments",
    "load_environment",
]

DEFAULT_ENVIRONMENT = "local"
DEFAULT_SERVICE_URL = "http://127.0.0.1:8765"
_DIRECTORY = "environments"


class _EnvironmentFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    config: str = Field(min_length=1)
    data_source: str = Field(min_length=1)
    runs_dir: str = Field(min_length=1)
    audit_path: str = Field(min_length=1)
    service_url: str = Field(default=DEFAULT_SERVICE_URL, pattern=r"^https?://[^\s/]+(/\S*)?$")
    description: str = ""


@dataclass(frozen=True, slots=True)
class Environment:
    """One deployment environment.

    Args:
        name: the ``--environment`` name.
        config_path: the configuration file, resolved against the root.
        data_source: a packaged dataset name or a data file path.
        runs_dir: where run directories go.
        audit_path: where the audit trail is written.
        service_url: where ``stratloop serve`` listens and health checks look.
        description: what the environment is for.
    """

    name: str
    config_path: Path
    data_source: str
    runs_dir: Path
    audit_path: Path
    service_url: str
    description: str = ""

    def layer(self) -> Layer:
        """The environment's locations as a configuration layer."""
        return Layer(
            f"environment {self.name}",
            {
                "data.source": self.data_source,
                "loop.runs_dir": str(self.runs_dir),
                "audit.path": str(self.audit_path),
            },
        )

    def config_document(self, path: Path | None = None) -> dict[str, Any]:
        """The configuration file's document with this environment's locations applied.

        Args:
            path: the configuration file (default: the environment's).

        Raises:
            ConfigFileError: the file cannot be read or is not safe YAML.
        """
        document = read_document(self.config_path if path is None else path)
        apply_layer(document, self.layer())
        return document

    def load_config(
        self,
        *,
        flags: Flags | None = None,
        environ: Mapping[str, str] | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> StratloopConfig:
        """The effective configuration of this environment, its locations layered on the file."""
        return load_config(
            self.config_path,
            environ=environ,
            overrides=overrides,
            flags=flags,
            layers=[self.layer()],
        )


def known_environments(root: Path | None = None) -> tuple[str, ...]:
    """The names of every ``environments/*.yaml`` under ``root`` (default: the cwd)."""
    directory = (Path.cwd() if root is None else root) / _DIRECTORY
    return tuple(sorted(p.stem for p in directory.glob("*.yaml")))


def load_environment(name: str, *, root: Path | None = None) -> Environment:
    """Read ``environments/<name>.yaml`` under ``root`` (default: the current directory).

    Raises:
        EnvironmentNotFoundError: no such environment; the known ones are listed.
        ConfigFileError: the environment file is not valid.
    """
    base = Path.cwd() if root is None else root
    known = known_environments(base)
    if name not in known:
        raise EnvironmentNotFoundError(name, known)
    path = base / _DIRECTORY / f"{name}.yaml"
    try:
        document = load_yaml(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigFileError(str(path), f"it cannot be read ({exc})", "check the file") from exc
    except YamlProblem as exc:
        raise ConfigFileError(str(path), exc.problem, exc.fix) from exc
    try:
        parsed = _EnvironmentFile.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'top level'}: {e['msg']}" for e in exc.errors()
        )
        fields = ", ".join(_EnvironmentFile.model_fields)
        raise ConfigFileError(
            str(path), problems, f"an environment file has the keys {fields}"
        ) from None
    return Environment(
        name=name,
        config_path=_resolve(base, parsed.config),
        data_source=parsed.data_source,
        runs_dir=Path(parsed.runs_dir),
        audit_path=Path(parsed.audit_path),
        service_url=parsed.service_url,
        description=parsed.description,
    )


def _resolve(base: Path, text: str) -> Path:
    path = Path(text)
    return path if path.is_absolute() else base / path
