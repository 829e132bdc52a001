"""A Markdown report: title, metric tables, text and plots, written to ``report.md``."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


def _cell(value: float | str) -> str:
    if isinstance(value, str):
        return value
    if math.isnan(value):
        return "n/a"
    return f"{value:.4g}"


def metric_table(rows: Mapping[str, Mapping[str, float | str]]) -> str:
    """A Markdown table: one row per metric, one column per model or baseline.

    Examples
    --------
    >>> print(metric_table({"MAE": {"model": 1.0, "persistence": 1.5}}))
    | metric | model | persistence |
    |---|---|---|
    | MAE | 1 | 1.5 |
    """
    columns: list[str] = []
    for values in rows.values():
        columns += [c for c in values if c not in columns]
    lines = ["| metric | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for name, values in rows.items():
        cells = [_cell(values.get(c, float("nan"))) for c in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


@dataclass
class Report:
    """Sections added in order, then :meth:`write` to ``directory/report.md``.

    Examples
    --------
    >>> import tempfile
    >>> report = Report(Path(tempfile.mkdtemp()), "A run")
    >>> report.text("Details.")
    >>> report.notice("Cancelled during epoch 2 of 5.")
    >>> print(report.write().read_text())
    # A run
    <BLANKLINE>
    > **Cancelled during epoch 2 of 5.**
    <BLANKLINE>
    Details.
    <BLANKLINE>
    """

    directory: Path
    title: str
    parts: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    images: list[Path] = field(default_factory=list)
    """The plots shown, in order: files of the run beside the report, to keep with it."""

    def notice(self, sentence: str) -> None:
        """Add a highlighted line right under the title (how the run ended, a warning)."""
        self.notices.append(f"> **{sentence.strip()}**")

    def text(self, markdown: str) -> None:
        """Add a paragraph (Markdown)."""
        self.parts.append(markdown.strip())

    def table(self, heading: str, rows: Mapping[str, Mapping[str, float | str]]) -> None:
        """Add a metric table under a heading."""
        self.parts.append(f"## {heading}\n\n{metric_table(rows)}")

    def image(self, caption: str, path: Path) -> None:
        """Add a plot already written inside the report's directory."""
        self.parts.append(f"![{caption}]({Path(path).relative_to(self.directory).as_posix()})")
        self.images.append(Path(path))

    def write(self) -> Path:
        """Write ``report.md`` and return its path."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / "report.md"
        path.write_text(f"# {self.title}\n\n" + "\n\n".join(self.notices + self.parts) + "\n")
        return path
