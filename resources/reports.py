"""The folder where report files for people (CSV, Markdown) are written: a local directory or
an object-store prefix, through the same pyarrow filesystem layer as the landing zone."""

from typing import Optional

from dagster import ConfigurableResource
from pyarrow import fs

from resources.object_store import ObjectStoreResource


class ReportFolderResource(ConfigurableResource):
    root: str
    object_store: Optional[ObjectStoreResource] = None

    def write_text(self, name: str, text: str) -> str:
        """Write (replace) ``name`` under the root in one put; return its URI."""
        uri = f"{self.root.rstrip('/')}/{name}"
        if self.object_store is not None and uri.startswith("s3://"):
            filesystem, path = self.object_store.filesystem(), uri[len("s3://") :]
        else:
            filesystem, path = fs.LocalFileSystem(), uri
            filesystem.create_dir(self.root, recursive=True)
        with filesystem.open_output_stream(path) as stream:
            stream.write(text.encode("utf-8"))
        return uri
