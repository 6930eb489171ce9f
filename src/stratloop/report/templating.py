"""The Jinja templates of the HTML pages, compiled once per process.

Building an environment and compiling a template costs 10-30 ms; the audit
report and the dashboard are rendered on every service refresh and request,
so each template is compiled on first use and kept.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jinja2 import Template

__all__ = ["template"]


@functools.cache
def template(package: str, name: str) -> Template:
    """Template ``name`` from ``package``'s ``templates`` folder (autoescaped HTML)."""
    from jinja2 import Environment, PackageLoader, select_autoescape  # noqa: PLC0415

    env = Environment(
        loader=PackageLoader(package, "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template(name)
