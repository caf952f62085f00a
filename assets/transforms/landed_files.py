"""Which landed files are ingested, and why a whole file is quarantined instead.

A file is quarantined (none of its lines reach bronze, the ingestion log keeps
the reason) when it is empty, of the wrong type or format, larger than the
configured limit, holds bytes that are not UTF-8, or, for CSV, its header does
not name the expected columns. A file that passes may still have bad lines:
those go to the source's reject table one by one.
"""

from __future__ import annotations

import csv
import io
from typing import BinaryIO, Optional, Sequence


def screen_file(
    name: str,
    size: int,
    head: bytes,
    *,
    suffix: str,
    max_bytes: int,
    header: Optional[Sequence[str]] = None,
) -> Optional[str]:
    """The reason to quarantine a file from what is known before reading it all, or None."""
    refused = unreadable_name(name)
    if refused:
        return refused
    if not name.endswith(suffix):
        return f"unexpected file type: expected *{suffix}"
    if size == 0:
        return "empty file (0 bytes)"
    if size > max_bytes:
        return f"file is {size:,} bytes, over the {max_bytes:,}-byte limit (LAKEHOUSE_MAX_FILE_BYTES)"
    if header is not None:
        found = header_columns(head)
        if found is None:
            return "undecodable bytes: the header line is not valid UTF-8"
        if [c.strip() for c in found] != list(header):
            return f"unexpected columns: header is {found}, expected {list(header)}"
    return None


def header_columns(head: bytes) -> Optional[list[str]]:
    """The columns a CSV file's first line names (as written), or None when it is not UTF-8:
    what the file says it sends, for the header screen and for the landing schema history."""
    first_line = head.split(b"\n", 1)[0].rstrip(b"\r").removeprefix(b"\xef\xbb\xbf")  # a UTF-8 BOM
    try:
        text = first_line.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return next(csv.reader(io.StringIO(text)), [])


def csv_records(stream: BinaryIO) -> int:
    """The records of a CSV file, header included, as RFC 4180 reads them: a quoted field may
    hold newlines, so a record is not a line. A line of only whitespace is no record (Spark's
    CSV reader skips it too). This is the count a CSV file's rows are accounted against."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")
    return sum(1 for row in csv.reader(text) if row and not (len(row) == 1 and not row[0].strip()))


def unreadable_name(name: str) -> Optional[str]:
    """Why Spark cannot read a file by this name, or None.

    Hadoop's ``Path`` (Spark's file layer) cannot hold a ``:`` in a file name (the local file
    system fails on the checksum file's name, s3a on the key), nor control characters. Every
    other name, spaces, ``#``, ``%``, ``+`` and glob characters included, is read.
    """
    if ":" in name:
        return "file name contains ':', which Hadoop (Spark's file layer) cannot read: rename the file"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        return "file name contains control characters, which Spark cannot read: rename the file"
    return None


def screen_content(
    lines: int, undecodable_lines: int, records_parsed: int, *, header_lines: int, structured: bool
) -> Optional[str]:
    """The reason to quarantine a file from its content, or None.

    ``structured`` sources (JSON lines) must parse at least one record: a file in
    which no line is a record is in the wrong format, not a file of bad lines.
    """
    if undecodable_lines:
        return f"undecodable bytes: {undecodable_lines:,} line(s) are not valid UTF-8"
    records = lines - header_lines
    if lines == 0:
        return "empty file (no records)"
    if structured and records > 0 and records_parsed == 0:
        return f"wrong format: none of its {records:,} line(s) is a record"
    return None
