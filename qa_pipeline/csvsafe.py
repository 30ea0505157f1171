"""CSV cells neutralised against formula injection (OWASP "CSV Injection").

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-``, ``@``, ``|``, ``%``, a tab or a
carriage return as a formula (``=HYPERLINK(...)``, ``=1+2+cmd|' /C calc'!A0``).  Every CSV the
project writes goes through :func:`writer` (rows) or :func:`neutralise_table` (pyarrow tables):
such a cell gets a leading ``'`` and its ``|`` escaped, numbers stay numbers.  The rule is
``defusedcsv``'s, plus OWASP's tab and carriage-return prefixes.
"""

from __future__ import annotations

import csv
from typing import Any, Iterable, TextIO

from defusedcsv.csv import _escape  # the library's cell rule (defusedcsv 3.x)

_CONTROL_STARTS = ("\t", "\r")


def neutralise(value: Any) -> Any:
    """One cell: strings a spreadsheet would evaluate get a leading ``'``; others unchanged."""
    if isinstance(value, str) and value.startswith(_CONTROL_STARTS):
        return "'" + value
    return _escape(value)


class _SafeWriter:
    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._inner.writerow([neutralise(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(fh: TextIO, **fmtparams: Any) -> _SafeWriter:
    """``csv.writer`` whose every cell goes through :func:`neutralise`."""
    return _SafeWriter(csv.writer(fh, **fmtparams))


def neutralise_table(table: Any) -> Any:
    """A pyarrow table with every string column's cells neutralised (other columns unchanged)."""
    import pyarrow as pa

    columns = []
    for field, column in zip(table.schema, table.columns):
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            column = pa.array([neutralise(v) for v in column.to_pylist()], type=field.type)
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=table.schema)
