"""The landing zone: files laid out as ``<source>/date=YYYY-MM-DD/<file>``.

Listing goes through pyarrow's filesystem layer, so a local directory and an
object-store prefix are the same code path (only the root URI differs).

Naming convention for writers: a file whose name starts with ``.`` or ``_`` is
still being written (``_part-1.jsonl.tmp`` renamed to ``part-1.jsonl`` when
done) and is never listed. Every other file under a source is a landed file,
whatever its suffix, so a wrong file type is quarantined rather than ignored.
"""


import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Iterator, Optional

from dagster import ConfigurableResource
from pyarrow import fs
from pydantic import Field

from resources.object_store import ObjectStoreResource

LANDED_DATE_PATTERN = re.compile(r"/date=(\d{4}-\d{2}-\d{2})/")


def canonical_path(uri: str) -> str:
    """One spelling per file, shared by the listing, Spark's ``_metadata.file_path`` and the log.

    Local files are plain absolute paths (Spark says ``file:/x`` or ``file:///x``);
    object-store files are ``s3://bucket/key`` (Spark says ``s3a://``).
    """
    if uri.startswith("file:"):
        path = uri[len("file:") :]
        return "/" + path.lstrip("/")
    if uri.startswith("s3a://"):
        return "s3://" + uri[len("s3a://") :]
    return uri


_HADOOP_GLOB = re.compile(r"([\\*?\[\]{}])")


def spark_path(path: str) -> str:
    """The URI Spark reads a canonical path through (hadoop-aws speaks ``s3a://``).

    Spark expands glob characters in the paths it is given, so ``part[1].jsonl`` would name
    ``part1.jsonl``: they are escaped to name the file itself.
    """
    uri = "s3a://" + path[len("s3://") :] if path.startswith("s3://") else path
    return _HADOOP_GLOB.sub(r"\\\1", uri)


@dataclass(frozen=True)
class LandedFile:
    source: str
    path: str  # canonical_path()
    landed_date: Optional[date]  # None when the path has no date=YYYY-MM-DD folder, or not a real day
    size: int
    mtime_ns: int
    date_folder: Optional[str] = None  # the folder's text, e.g. "2026-13-45" when it is not a day

    @property
    def unroutable_reason(self) -> Optional[str]:
        """Why the file belongs to no daily partition, or None."""
        if self.landed_date is not None:
            return None
        if self.date_folder is not None:
            return f"folder date={self.date_folder} is not a calendar day"
        return "no date=YYYY-MM-DD folder in its path"

    @property
    def modified_at(self) -> datetime:
        return datetime.fromtimestamp(self.mtime_ns / 1e9, tz=timezone.utc)

    @property
    def fingerprint(self) -> tuple[int, int]:
        """What identifies this version of the file: a rewrite changes size or modification time."""
        return (self.size, self.mtime_ns)

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


def _calendar_day(folder: Optional[str]) -> Optional[date]:
    try:
        return date.fromisoformat(folder) if folder else None
    except ValueError:  # date=2026-13-45: no partition holds it; the sensor reports it by path
        return None


def _in_progress(relative: str) -> bool:
    return any(part.startswith((".", "_")) for part in relative.split("/"))


class LandingZoneResource(ConfigurableResource):
    """Lists landed files per source (and day), with size and modification time."""

    root: str
    max_file_bytes: int = Field(
        default=2 * 1024**3, description="Larger files are quarantined instead of ingested (LAKEHOUSE_MAX_FILE_BYTES)."
    )
    object_store: Optional[ObjectStoreResource] = Field(
        default=None, description="Endpoint and credentials when the root is an s3:// prefix."
    )

    def _filesystem(self) -> tuple[fs.FileSystem, str]:
        if self.object_store is not None and self.root.startswith(("s3://", "s3a://")):
            return self.object_store.filesystem(), self.root.split("://", 1)[1].rstrip("/")
        filesystem, base = fs.FileSystem.from_uri(self.root)
        return filesystem, base.rstrip("/")

    def _path(self, info_path: str) -> str:
        if "://" in self.root:  # pyarrow paths drop the scheme: "bucket/key"
            return canonical_path(f"{self.root.split('://', 1)[0]}://{info_path}")
        return info_path

    def iter_files(self, source: str) -> Iterator[LandedFile]:
        """Every landed file of ``source`` (any day, any suffix), skipping in-progress names."""
        filesystem, base = self._filesystem()
        source_dir = f"{base}/{source}"
        selector = fs.FileSelector(source_dir, allow_not_found=True, recursive=True)
        for info in filesystem.get_file_info(selector):
            if info.type != fs.FileType.File or _in_progress(info.path[len(source_dir) + 1 :]):
                continue
            match = LANDED_DATE_PATTERN.search(info.path)
            folder = match.group(1) if match else None
            mtime_ns = info.mtime_ns if info.mtime_ns is not None else 0
            yield LandedFile(source, self._path(info.path), _calendar_day(folder), int(info.size), int(mtime_ns),
                             folder)

    def list_files(self, source: str, start: date, end: date) -> list[LandedFile]:
        """Files of ``source`` landed on days ``start``..``end`` (inclusive), sorted by path."""
        files = [f for f in self.iter_files(source) if f.landed_date is not None and start <= f.landed_date <= end]
        return sorted(files, key=lambda f: f.path)

    def read_head(self, path: str, max_bytes: int = 65536) -> bytes:
        """The first bytes of a landed file (a header check without reading the whole file)."""
        with self.open(path) as stream:
            return stream.read(max_bytes)

    def open(self, path: str):
        """A landed file as a binary input stream (a context manager)."""
        filesystem, _ = self._filesystem()
        return filesystem.open_input_stream(path.split("://", 1)[1] if "://" in path else path)
