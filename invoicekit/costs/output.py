"""Writing the tie-out and allocation tables (``--output FILE``: .csv or .parquet)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

from invoicekit._files import write_bytes, write_text
from invoicekit._na import is_missing
from invoicekit.errors import InvalidArgumentError


def _text(value) -> str:
    if is_missing(value):
        return ""
    if isinstance(value, Decimal):
        text = f"{value:f}"
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return "0" if text in ("-0", "") else text
    if isinstance(value, bool) or type(value).__name__ in ("bool", "bool_"):
        return "true" if value else "false"
    return str(value)


def write_table(frame, path: str, flag: str = "--output") -> Path:
    """Write ``frame`` atomically: parquet for ``.parquet``, else CSV (plain decimal strings)."""
    p = Path(path)
    if p.exists() and p.is_dir():
        raise InvalidArgumentError(
            f"{flag} {path}: is a folder; give a file name (.csv or .parquet)"
        )
    if p.suffix.lower() == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        buf = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buf)
        return write_bytes(p, buf.getvalue())
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(list(frame.columns))
    for row in frame.itertuples(index=False, name=None):
        writer.writerow([_text(v) for v in row])
    return write_text(p, out.getvalue())
