"""PROVISIONAL (replaced by the s3 branch): S3-compatible object store settings."""

from typing import Optional

from dagster import ConfigurableResource
from pyarrow import fs


class ObjectStoreResource(ConfigurableResource):
    endpoint: Optional[str] = None
    region: str = "us-east-1"
    path_style: bool = True
    access_key_id: Optional[str] = None
    secret_access_key: Optional[str] = None

    def spark_conf(self) -> dict[str, str]:
        raise NotImplementedError

    def delta_rs_options(self) -> dict[str, str]:
        raise NotImplementedError

    def filesystem(self) -> fs.S3FileSystem:
        raise NotImplementedError
