"""Schema drift: what a landing source's files sent, against what silver reads and what came before.

Bronze lands lines as they are, so a feed that adds, drops or re-types a field does not fail
ingestion: the parser fits each line to the order schema, ignores fields it does not know,
nulls the ones a line lacks and rejects a line whose value does not fit. Each of those is a
silent change unless someone compares what was *sent* with what is *expected*. This module
does that comparison, in plain Python on the small per-file schemas bronze records in
``_system/landing_schemas`` (``resources/landing_schemas.py``):

- a field the contract reads (``expected``) that a file lacks, or sends with another JSON type,
  is drift in every file that does so: silver quarantines or nulls what depends on it;
- a field the contract does not read is drift when it is new (the source's recorded history,
  the latest earlier landing day, does not have it), re-typed or gone since that day. Once it
  is in the history it is known, listed but not reported again, so a harmless extra field warns
  once instead of every day.

Field paths name nesting: ``items`` (an array), ``items[]`` (its elements), ``items[].quantity``.
JSON types: string, integer, number, boolean, object, array, null, and ``mixed`` when one line's
array elements hold the same field with different types.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Iterable, Mapping, Optional, Protocol, Sequence

from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue
from pyspark.sql import types as T

from assets.quality.results import check_result, markdown_table

STRING, INTEGER, NUMBER, BOOLEAN, OBJECT, ARRAY, NULL, MIXED = (
    "string", "integer", "number", "boolean", "object", "array", "null", "mixed")
ADDED, MISSING, RETYPED = "added", "missing", "retyped"
ABSENT = "—"
MAX_TABLE_ROWS = 50
MAX_FILES_LISTED = 5

FieldTypes = Mapping[str, frozenset[str]]  # field path -> the JSON types it was seen with

# schema_of_variant's scalar type names (after ``observed_schema`` folded decimals into NUMBER)
_VARIANT_TYPES = {"STRING": STRING, "BIGINT": INTEGER, "INT": INTEGER, "SMALLINT": INTEGER, "TINYINT": INTEGER,
                  "NUMBER": NUMBER, "BOOLEAN": BOOLEAN, "VOID": NULL, "VARIANT": MIXED}


# -- reading schemas ------------------------------------------------------------------------------
def parse_observed_schema(text: Optional[str]) -> dict[str, str]:
    """Field path -> JSON type of one ``schema_of_variant`` text, at every depth.

    Only an object is a record: any other JSON value (an array, a bare string) has no fields
    and gives ``{}`` (bronze rejects such a line anyway). Names Spark quotes with backticks
    (any name that is not a plain identifier; a doubled backtick is one backtick) are unquoted.
    """
    if not text or not text.startswith("OBJECT<"):
        return {}
    fields: dict[str, str] = {}
    _SchemaReader(text, fields).read_type("")
    fields.pop("", None)  # the root object itself
    return fields


class _SchemaReader:
    """A recursive-descent reader of the type grammar ``schema_of_variant`` prints:
    ``OBJECT<name: type, ...>``, ``ARRAY<type>``, ``NAME`` or ``NAME(args)``."""

    def __init__(self, text: str, out: dict[str, str]):
        self.text, self.pos, self.out = text, 0, out

    def read_type(self, path: str) -> None:
        if self._take("OBJECT<"):
            self.out[path] = OBJECT
            while not self._take(">"):
                self._take(", ")
                name = self._read_name() or '""'  # an empty key must not collide with its parent's path
                self._expect(": ")
                self.read_type(f"{path}.{name}" if path else name)
        elif self._take("ARRAY<"):
            self.out[path] = ARRAY
            if self.text.startswith("VOID>", self.pos):  # empty arrays, or only nulls: no element seen
                self.pos += len("VOID")
            else:
                self.read_type(f"{path}[]")
            self._expect(">")
        else:
            start = self.pos
            while self.pos < len(self.text) and (self.text[self.pos].isalnum() or self.text[self.pos] == "_"):
                self.pos += 1
            name = self.text[start:self.pos]
            if self._take("("):  # DECIMAL(p,s) not folded into NUMBER: its arguments are no type
                self.pos = self.text.index(")", self.pos) + 1
            if not name:
                raise ValueError(f"unexpected schema text at {start}: {self.text[start:start + 40]!r}")
            self.out[path] = NUMBER if name in ("DECIMAL", "DOUBLE", "FLOAT") else _VARIANT_TYPES.get(name, name.lower())

    def _read_name(self) -> str:
        if self._take("`"):
            chars = []
            while True:
                end = self.text.index("`", self.pos)
                chars.append(self.text[self.pos:end])
                self.pos = end + 1
                if not self._take("`"):
                    return "`".join(chars)
        end = self.text.index(":", self.pos)
        name, self.pos = self.text[self.pos:end], end
        return name

    def _take(self, token: str) -> bool:
        if self.text.startswith(token, self.pos):
            self.pos += len(token)
            return True
        return False

    def _expect(self, token: str) -> None:
        if not self._take(token):
            raise ValueError(f"unexpected schema text at {self.pos}: {self.text[self.pos:self.pos + 40]!r}")


def expected_fields(schema: T.StructType) -> dict[str, str]:
    """Field path -> JSON type of the fields a Spark schema (what silver's contract reads) declares."""
    out: dict[str, str] = {}

    def visit(data_type: T.DataType, path: str) -> None:
        if isinstance(data_type, T.StructType):
            if path:
                out[path] = OBJECT
            for f in data_type.fields:
                visit(f.dataType, f"{path}.{f.name}" if path else f.name)
        elif isinstance(data_type, T.ArrayType):
            out[path] = ARRAY
            visit(data_type.elementType, f"{path}[]")
        elif isinstance(data_type, (T.IntegerType, T.LongType, T.ShortType, T.ByteType)):
            out[path] = INTEGER
        elif isinstance(data_type, (T.DoubleType, T.FloatType, T.DecimalType)):
            out[path] = NUMBER
        elif isinstance(data_type, T.BooleanType):
            out[path] = BOOLEAN
        else:
            out[path] = STRING

    visit(schema, "")
    return out


def fold_schemas(schemas: Iterable[tuple[Optional[str], int]]) -> dict[tuple[str, str], int]:
    """(field, JSON type) -> lines that sent it, from one file's distinct schemas and their line counts."""
    out: dict[tuple[str, str], int] = {}
    for text, lines in schemas:
        for field_path, json_type in parse_observed_schema(text).items():
            out[(field_path, json_type)] = out.get((field_path, json_type), 0) + int(lines)
    return out


# -- comparing --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Drift:
    """One drifted field in the files that show it: the row of the check's diff table."""

    field: str
    change: str  # ADDED, MISSING or RETYPED
    expected_type: str
    observed_type: str
    files: tuple[str, ...]

    def row(self) -> dict[str, str]:
        listed = ", ".join(self.files[:MAX_FILES_LISTED])
        more = len(self.files) - MAX_FILES_LISTED
        return {"field": self.field, "change": self.change, "expected type": self.expected_type,
                "observed type": self.observed_type,
                "files": f"{listed} (+{more} more)" if more > 0 else listed}


def _parent(path: str) -> str:
    if path.endswith("[]"):
        return path[:-2]
    return path.rsplit(".", 1)[0] if "." in path else ""


def _fits(observed: str, allowed: frozenset[str]) -> bool:
    """Null says nothing about a type (nullability is the contract's business); an integer is a number."""
    return (observed == NULL or observed in allowed or (observed == INTEGER and NUMBER in allowed)
            or allowed <= {NULL})


def _spell(types: Iterable[str]) -> str:
    named = sorted(set(types) - {NULL}) or [NULL]
    return " | ".join(named)


def file_drift(observed: FieldTypes, expected: Mapping[str, str], baseline: FieldTypes) -> list[tuple[str, str, str, str]]:
    """(field, change, expected type, observed type) for one file.

    ``expected`` is the contract; ``baseline`` the source's history (only consulted for fields
    the contract does not declare). A field counts as missing only where its parent was seen
    with content (an order whose items are all empty lacks no item field), and only the
    outermost new field is reported (a new object's own fields are part of it).
    """
    if not observed:
        return []
    with_content = {_parent(p) for p in observed}
    out = []
    for path in sorted(observed):
        types = observed[path]
        if path in expected:
            allowed = frozenset({expected[path]})
        elif path in baseline:
            allowed = baseline[path]
        else:
            parent = _parent(path)
            if parent and parent not in expected and parent not in baseline:
                continue  # inside a new field, which is reported itself
            out.append((path, ADDED, ABSENT, _spell(types)))
            continue
        if not all(_fits(t, allowed) for t in types):
            out.append((path, RETYPED, _spell(allowed), _spell(types)))
    known = {**{p: frozenset({t}) for p, t in expected.items()}, **{p: ts for p, ts in baseline.items() if p not in expected}}
    for path in sorted(set(known) - set(observed)):
        if _parent(path) in with_content:
            out.append((path, MISSING, _spell(known[path]), ABSENT))
    return out


def schema_diff(files: Mapping[str, FieldTypes], expected: Mapping[str, str], baseline: FieldTypes) -> list[Drift]:
    """Every file's drift, one row per (field, change, expected, observed) with the files showing it."""
    grouped: dict[tuple[str, str, str, str], list[str]] = {}
    for label in sorted(files):
        for key in file_drift(files[label], expected, baseline):
            grouped.setdefault(key, []).append(label)
    return [Drift(*key, files=tuple(labels)) for key, labels in sorted(grouped.items())]


def union(files: Iterable[FieldTypes]) -> dict[str, frozenset[str]]:
    """The fields and types of several files together (a landing day's baseline)."""
    out: dict[str, frozenset[str]] = {}
    for fields in files:
        for path, types in fields.items():
            out[path] = out.get(path, frozenset()) | types
    return out


def file_label(path: str) -> str:
    """A landed file as the diff names it: its day folder and name (``date=2026-01-01/part-1.jsonl``)."""
    return "/".join(path.rstrip("/").rsplit("/", 2)[-2:])


# -- the check ---------------------------------------------------------------------------------------
class RecordedField(Protocol):
    """One row of the schema history as the comparison needs it (``resources.landing_schemas.ObservedField``)."""

    path: str
    landed_date: date
    field: str
    json_type: str


def drift_in_days(
    history: Sequence[RecordedField],
    expected: Mapping[str, str],
    start: Optional[date],
    end: Optional[date],
    ingested: Iterable[str] = (),
) -> AssetCheckResult:
    """The drift check over the files landed ``start``..``end`` (None: every day).

    Each day's files are compared with the contract and with the latest earlier landing day
    in the history, so a day's verdict is the same whenever (and however often) it is checked.
    ``ingested`` (paths the ingestion log holds as ingested) finds files with no recorded
    schema, e.g. ingested before the history existed: counted, not called drift.
    """
    per_file: dict[str, dict[str, set[str]]] = {}
    day_of: dict[str, date] = {}
    for row in history:
        per_file.setdefault(row.path, {}).setdefault(row.field, set()).add(row.json_type)
        day_of[row.path] = row.landed_date
    fields = {path: {f: frozenset(ts) for f, ts in types.items()} for path, types in per_file.items()}
    in_range = sorted(p for p, d in day_of.items() if (start is None or d >= start) and (end is None or d <= end))
    drifts: list[Drift] = []
    for day in sorted({day_of[p] for p in in_range}):
        earlier = [d for d in set(day_of.values()) if d < day]
        baseline = union(fields[p] for p in day_of if earlier and day_of[p] == max(earlier))
        todays = {file_label(p): fields[p] for p in in_range if day_of[p] == day}
        drifts.extend(schema_diff(todays, expected, baseline))
    drifts = _merge(drifts)
    drifted = {d.field for d in drifts}
    known_extra = sorted({f for p in in_range for f in fields[p]
                          if f not in expected and not _within(f, drifted) and _parent(f) in {"", *expected}})
    without = sorted(set(ingested) - set(day_of))
    return drift_result(drifts, files_checked=len(in_range), known_extra_fields=known_extra,
                        files_without_schema=len(without))


def _within(path: str, fields: set[str]) -> bool:
    """Whether ``path`` is one of ``fields`` or nested in one."""
    while path:
        if path in fields:
            return True
        path = _parent(path)
    return False


def _merge(drifts: Sequence[Drift]) -> list[Drift]:
    merged: dict[tuple[str, str, str, str], tuple[str, ...]] = {}
    for d in drifts:
        key = (d.field, d.change, d.expected_type, d.observed_type)
        merged[key] = merged.get(key, ()) + d.files
    return [Drift(*key, files=files) for key, files in sorted(merged.items())]


def drift_result(
    drifts: Sequence[Drift], *, files_checked: int, known_extra_fields: Sequence[str] = (), files_without_schema: int = 0
) -> AssetCheckResult:
    """The check's result: passed without drift; on drift the diff as a Markdown table (``schema_diff``)
    and as JSON (``drifted_fields``), and ``failure_count`` = the number of drifted fields (0 on pass)."""
    rows = [d.row() for d in drifts]
    table = markdown_table(rows[:MAX_TABLE_ROWS]) if rows else "_no drift_"
    if len(rows) > MAX_TABLE_ROWS:
        table += f"\n\n_{len(rows) - MAX_TABLE_ROWS} more row(s) in drifted_fields_"
    drifted = sorted({d.field for d in drifts})
    return check_result(
        not drifts,
        severity=AssetCheckSeverity.WARN,
        failed_rule="landed fields == expected fields and types (contract), extra fields as in the history",
        failure_count=len(drifted),
        samples=rows[:5],
        schema_diff=MetadataValue.md(table),
        drifted_fields=MetadataValue.json([{**d.row(), "files": list(d.files)} for d in drifts]),
        files_checked=files_checked,
        files_drifted=len({f for d in drifts for f in d.files}),
        files_without_schema=files_without_schema,
        known_extra_fields=MetadataValue.json(list(known_extra_fields)),
    )


def summary(drifted_fields: Sequence[Mapping[str, object]]) -> str:
    """One line for a log warning, from the check's ``drifted_fields`` metadata value."""
    text = "; ".join(f"{r['field']} {r['change']} (expected {r['expected type']}, observed {r['observed type']}, "
                     f"in {len(r['files'])} file(s))" for r in drifted_fields[:10])  # type: ignore[arg-type]
    return text + (f"; and {len(drifted_fields) - 10} more" if len(drifted_fields) > 10 else "")
