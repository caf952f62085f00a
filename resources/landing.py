"""The landing zone: files laid out as ``<source>/date=YYYY-MM-DD/<file>``.

Listing goes through pyarrow's filesystem layer, so a local directory and an
object-store prefix are the same code path (only the root URI differs).
"""


import re
from dataclasses import dataclass
from datetime import date

from dagster import ConfigurableResource
from pyarrow import fs

LANDED_DATE_PATTERN = re.compile(r"date=(\d{4}-\d{2}-\d{2})")


@dataclass(frozen=True)
class LandedFile:
    path: str  # URI Spark can read
    landed_date: date
    size: int


class LandingZoneResource(ConfigurableResource):
    """Lists landed files per source and day."""

    root: str

    def _filesystem(self) -> tuple[fs.FileSystem, str]:
        return fs.FileSystem.from_uri(self.root)

    def uri(self, relative: str) -> str:
        return f"{self.root.rstrip('/')}/{relative}"

    def list_files(self, source: str, start: date, end: date, suffix: str) -> list[LandedFile]:
        """Files of ``source`` landed on days ``start``..``end`` (inclusive), sorted by path."""
        filesystem, base = self._filesystem()
        selector = fs.FileSelector(f"{base.rstrip('/')}/{source}", allow_not_found=True, recursive=True)
        files: list[LandedFile] = []
        for info in filesystem.get_file_info(selector):
            if info.type != fs.FileType.File or not info.base_name.endswith(suffix):
                continue
            match = LANDED_DATE_PATTERN.search(info.path)
            if not match:
                continue
            landed = date.fromisoformat(match.group(1))
            if start <= landed <= end:
                relative = info.path[len(base.rstrip("/")) + 1 :]
                files.append(LandedFile(self.uri(relative), landed, info.size))
        return sorted(files, key=lambda f: f.path)
