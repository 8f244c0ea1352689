"""The report's one renderer: ``templates/report.html.j2`` through Jinja2 with autoescape on, so every text a
view carries (names, notes, statements from a shared file) is escaped by default, and an undefined name in the
template is an error rather than an empty string."""

from __future__ import annotations

from functools import cache

import jinja2

from .views import PageView

TEMPLATE = "report.html.j2"


@cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("unlogit.report", "templates"),
        autoescape=True,  # every template here is HTML, whatever its file name
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_page(page: PageView) -> str:
    """The report's HTML for ``page``."""
    return environment().get_template(TEMPLATE).render(page=page)
