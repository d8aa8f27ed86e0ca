"""CSV text that reads back as written, whatever the file names in it."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable


class CsvText:
    """Rows written as CSV with LF line ends.

    Python's writer quotes a field holding the delimiter, a quote or the line terminator ("\\n"), but not
    a carriage return, which its reader (and most others) take for a line end: a file name holding "\\r"
    would split its row in two. Such a row is written with every field quoted; others as usual.
    """

    def __init__(self) -> None:
        self._buf = io.StringIO()
        self._plain = csv.writer(self._buf, lineterminator="\n")
        self._quoted = csv.writer(self._buf, lineterminator="\n", quoting=csv.QUOTE_ALL)

    def row(self, cells: Iterable[object]) -> None:
        values = list(cells)
        carriage = any(isinstance(v, str) and "\r" in v for v in values)
        (self._quoted if carriage else self._plain).writerow(values)

    def text(self) -> str:
        return self._buf.getvalue()
