"""One table renderer: rows of values, columns that say how to show them, as markdown, CSV or HTML."""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Formatter = Callable[[Any], str]


def format_value(value: Any) -> str:
    """Default cell text: 4 significant digits for floats, lists joined, None as an empty cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(format_value(v) for v in value)
    return str(value)


def percent(value: Any) -> str:
    return "" if value is None else f"{100 * float(value):.1f}%"


def fixed(digits: int) -> Formatter:
    def fmt(value: Any) -> str:
        return "" if value is None else f"{float(value):.{digits}f}"

    return fmt


@dataclass(frozen=True)
class Column:
    """A column: the row key it shows, its heading, and how a value is written."""

    key: str
    title: str | None = None
    fmt: Formatter = format_value

    @property
    def heading(self) -> str:
        return self.title if self.title is not None else self.key


def columns_of(rows: Sequence[Mapping[str, Any]]) -> list[Column]:
    """Every key that occurs in ``rows``, in first-seen order, with the default format."""
    return [Column(k) for k in dict.fromkeys(k for r in rows for k in r)]


def _cells(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column]) -> list[list[str]]:
    return [[c.fmt(r.get(c.key)) if r.get(c.key) is not None else "" for c in columns] for r in rows]


def markdown(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column] | None = None) -> str:
    """A GitHub-flavoured markdown table (``|`` in cells escaped)."""
    columns = list(columns or columns_of(rows))
    lines = ["| " + " | ".join(c.heading for c in columns) + " |", "|" + "---|" * len(columns)]
    for cells in _cells(rows, columns):
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines)


def csv_text(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column] | None = None) -> str:
    """CSV with the column keys as header and raw (unformatted) values."""
    columns = list(columns or columns_of(rows))
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([c.key for c in columns])
    for r in rows:
        writer.writerow(["" if r.get(c.key) is None else r.get(c.key) for c in columns])
    return buf.getvalue()


def html_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column] | None = None, escape: bool = True) -> str:
    """An HTML table in a box that scrolls sideways when it is wider than the page (class ``table-wrap``);
    numeric cells are right-aligned (class ``num``). ``escape=False`` keeps cells' own markup (links). Empty
    rows give an empty string."""
    if not rows:
        return ""
    columns = list(columns or columns_of(rows))
    head = "".join(f"<th>{html.escape(c.heading)}</th>" for c in columns)
    body = []
    for r, cells in zip(rows, _cells(rows, columns)):
        tds = []
        for c, cell in zip(columns, cells):
            v = r.get(c.key)
            num = isinstance(v, (int, float)) and not isinstance(v, bool)
            attr = ' class="num"' if num else ""
            tds.append(f"<td{attr}>{html.escape(cell) if escape else cell}</td>")
        body.append("<tr>" + "".join(tds) + "</tr>")
    return f"<div class='table-wrap'><table><tr>{head}</tr>{''.join(body)}</table></div>"
