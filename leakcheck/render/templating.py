"""The one Jinja2 environment for HTML renderers: templates from `leakcheck/templates/`, autoescaped."""

from __future__ import annotations

from functools import cache

import jinja2
from markupsafe import Markup, escape

from leakcheck.render.text import printable


def exact_attribute(value: str) -> Markup:
    """`value` escaped for an attribute that a script reads back exactly: an HTML parser turns a
    literal carriage return into a newline, but not one written as a character reference."""
    return Markup(str(escape(value)).replace("\r", "&#13;"))


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("leakcheck", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["exact_attribute"] = exact_attribute
    env.filters["printable"] = printable
    return env
