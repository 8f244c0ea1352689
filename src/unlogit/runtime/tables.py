"""One table renderer: rows of values, columns that say how to show them, as markdown, CSV or a grid of cells
(the report's HTML template draws a grid)."""

from __future__ import annotations

import csv
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


@dataclass(frozen=True)
class Cell:
    """One table cell as shown: its text, whether it is a number (right-aligned), and where it links (or None)."""

    text: str
    numeric: bool = False
    link: str | None = None


@dataclass(frozen=True)
class Grid:
    """A table ready to render: the headings and the rows of cells (the report's template draws it)."""

    headings: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]


def grid(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[Column] | None = None,
    links: Mapping[str, Formatter] | None = None,
) -> Grid:
    """``rows`` as a :class:`Grid`: cells formatted by their column, numbers marked, and a cell of a column named
    in ``links`` linked to ``links[key](value)``. Text stays text: escaping is the renderer's job."""
    columns = list(columns or columns_of(rows))
    links = links or {}
    body = []
    for r, cells in zip(rows, _cells(rows, columns)):
        line = []
        for c, text in zip(columns, cells):
            v = r.get(c.key)
            numeric = isinstance(v, (int, float)) and not isinstance(v, bool)
            line.append(Cell(text, numeric, links[c.key](v) if c.key in links and v is not None else None))
        body.append(tuple(line))
    return Grid(tuple(c.heading for c in columns), tuple(body))


def grid_markdown(table: Grid, links: bool = True) -> str:
    """A :class:`Grid` (cells already formatted) as a GitHub-flavoured markdown table: numeric columns
    right-aligned, ``|`` in cells escaped, links kept as markdown links (or dropped: ``links=False``, for anchors
    that exist only on the HTML page)."""

    def cell(c: Cell) -> str:
        text = c.text.replace("|", "\\|")
        return f"[{text}]({c.link})" if c.link and links else text

    numeric = [bool(table.rows) and all(row[i].numeric for row in table.rows) for i in range(len(table.headings))]
    lines = ["| " + " | ".join(table.headings) + " |", "|" + "".join("---:|" if n else "---|" for n in numeric)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in table.rows]
    return "\n".join(lines)
