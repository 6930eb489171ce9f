"""The Jinja templates of the HTML pages, compiled once per process.

Building an environment and compiling a template costs 10-30 ms; the audit
report and the dashboard are rendered on every service refresh and request,
so each template is compiled on first use and kept.
"""

from __future__ import annotations

import functools

from jinja2 import Environment, PackageLoader, Template, select_autoescape

__all__ = ["template"]


@functools.cache
def template(package: str, name: str) -> Template:
    """Template ``name`` from ``package``'s ``templates`` folder (autoescaped HTML)."""
    env = Environment(
        loader=PackageLoader(package, "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template(name)
