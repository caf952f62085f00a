"""The S3-compatible object store: one description, three clients.

Spark reaches it through hadoop-aws (``s3a://``), delta-rs through its storage
options (``s3://``) and the landing-zone code through a pyarrow filesystem. All
three are configured from this one resource, so the endpoint, region,
addressing style and credentials cannot drift apart.

Credentials come from the environment only: pass them as
``EnvVar("AWS_ACCESS_KEY_ID")`` / ``EnvVar("AWS_SECRET_ACCESS_KEY")``. Left
unset, each client falls back to its own AWS default chain (instance profile,
``~/.aws``...). Nothing here logs a setting; Spark redacts ``*.secret.key`` in
its UI and event logs (``spark.redaction.regex``).
"""

from __future__ import annotations

import os
from typing import Optional
from urllib.parse import urlsplit

from dagster import ConfigurableResource, EnvVar
from pydantic import Field

from resources.settings import CREDENTIAL_VARIABLES, ObjectStoreSettings


def _resolve(value: Optional[str]) -> Optional[str]:
    """An ``EnvVar`` field read outside a Dagster run still holds the variable's name: read it."""
    if isinstance(value, EnvVar):
        return value.get_value() or None
    return value or None


class ObjectStoreResource(ConfigurableResource):
    """A bucket (and key prefix) on AWS S3 or an S3-compatible server."""

    bucket: str
    prefix: str = Field(default="lakehouse", description="Key prefix under which the lakehouse lives.")
    endpoint: Optional[str] = Field(
        default=None, description="Server URL, e.g. http://127.0.0.1:9000; None means AWS S3 itself."
    )
    region: str = "us-east-1"
    path_style: bool = Field(default=True, description="bucket in the path, not the host name (what most servers need)")
    # repr=False: never shown in a repr, even in a traceback.
    access_key_id: Optional[str] = Field(default=None, repr=False, description='EnvVar("AWS_ACCESS_KEY_ID")')
    secret_access_key: Optional[str] = Field(default=None, repr=False, description='EnvVar("AWS_SECRET_ACCESS_KEY")')

    @classmethod
    def from_settings(cls, store: ObjectStoreSettings) -> "ObjectStoreResource":
        """The store described by validated settings; the keys as ``EnvVar`` when they are set
        (unset: the AWS default chain, instance profile or ``~/.aws``, applies)."""
        secrets = {
            field: EnvVar(name)
            for field, name in zip(("access_key_id", "secret_access_key"), CREDENTIAL_VARIABLES)
            if os.environ.get(name)
        }
        return cls(bucket=store.bucket, prefix=store.prefix, endpoint=store.endpoint, region=store.region,
                   path_style=store.path_style, **secrets)

    @classmethod
    def from_env(cls) -> "ObjectStoreResource":
        """From the ``LAKEHOUSE_S3_*`` variables and the two AWS secrets (for scripts and tests)."""
        env_name = os.environ.get("LAKEHOUSE_ENV") if os.environ.get("LAKEHOUSE_ENV") in ("cluster", "prod") else "cluster"
        return cls.from_settings(ObjectStoreSettings.from_env(env_name=env_name))

    # -- locations ---------------------------------------------------------
    def uri(self, *parts: str, scheme: str = "s3a") -> str:
        """``<scheme>://bucket/prefix/<parts...>``; Spark speaks ``s3a``, delta-rs and pyarrow ``s3``."""
        path = "/".join(p.strip("/") for p in (self.prefix, *parts) if p and p.strip("/"))
        return f"{scheme}://{self.bucket}/{path}" if path else f"{scheme}://{self.bucket}"

    @property
    def table_root(self) -> str:
        return self.uri("tables", scheme="s3a")

    @property
    def landing_root(self) -> str:
        return self.uri("landing", scheme="s3")

    def key(self, *parts: str) -> str:
        """``bucket/prefix/<parts...>``: a path as pyarrow's S3FileSystem names it."""
        return self.uri(*parts, scheme="s3")[len("s3://") :]

    # -- connection pieces -------------------------------------------------
    def _credentials(self) -> tuple[Optional[str], Optional[str]]:
        return _resolve(self.access_key_id), _resolve(self.secret_access_key)

    def _endpoint(self) -> Optional[tuple[str, str]]:
        """(scheme, host[:port]) of a custom endpoint."""
        if not self.endpoint:
            return None
        parts = urlsplit(self.endpoint if "://" in self.endpoint else f"https://{self.endpoint}")
        return parts.scheme, parts.netloc

    # -- clients -----------------------------------------------------------
    def spark_conf(self, with_credentials: bool = True) -> dict[str, str]:
        """Hadoop s3a settings (as ``spark.hadoop.fs.s3a.*``) plus Delta's log store for s3a.

        Spark needs hadoop-aws and the AWS SDK jars on its classpath
        (``resources.jars.s3a_artifacts``). Delta commits on S3 through
        ``S3SingleDriverLogStore`` (its default for s3a, stated here so it is
        visible): commits are atomic as long as one Spark driver writes a table
        at a time, which is how the asset graph runs (one run per table slice,
        the silver_orders pool). No conditional PUT is needed from the server.

        ``with_credentials=False`` leaves the keys out, for settings that end up
        on a command line (a Spark Connect server, a compose service): s3a's
        default provider chain then reads ``AWS_ACCESS_KEY_ID`` /
        ``AWS_SECRET_ACCESS_KEY`` from that process's environment.
        """
        conf = {
            "spark.hadoop.fs.s3a.path.style.access": str(self.path_style).lower(),
            "spark.hadoop.fs.s3a.endpoint.region": self.region,
            "spark.delta.logStore.s3a.impl": "io.delta.storage.S3SingleDriverLogStore",
        }
        endpoint = self._endpoint()
        if endpoint:
            scheme, host = endpoint
            conf["spark.hadoop.fs.s3a.endpoint"] = f"{scheme}://{host}"
            conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] = str(scheme == "https").lower()
        key_id, secret = self._credentials()
        if with_credentials and key_id and secret:
            conf["spark.hadoop.fs.s3a.aws.credentials.provider"] = "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider"
            conf["spark.hadoop.fs.s3a.access.key"] = key_id
            conf["spark.hadoop.fs.s3a.secret.key"] = secret
        return conf

    def delta_rs_options(self) -> dict[str, str]:
        """delta-rs (object_store) storage options for ``s3://`` table URIs.

        delta-rs commits with a conditional PUT (``If-None-Match: *``), so
        writing through it needs a server that honours that header (AWS S3 and
        S3Proxy do; Swift's s3api does not). Reading needs nothing special.
        """
        options = {
            "AWS_REGION": self.region,
            "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": str(not self.path_style).lower(),
        }
        endpoint = self._endpoint()
        if endpoint:
            scheme, host = endpoint
            options["AWS_ENDPOINT_URL"] = f"{scheme}://{host}"
            options["AWS_ALLOW_HTTP"] = str(scheme == "http").lower()
        key_id, secret = self._credentials()
        if key_id and secret:
            options["AWS_ACCESS_KEY_ID"] = key_id
            options["AWS_SECRET_ACCESS_KEY"] = secret
        return options

    def filesystem(self):
        """A pyarrow ``S3FileSystem`` (paths are ``bucket/key``, see ``key``)."""
        from pyarrow import fs

        kwargs: dict = {"region": self.region, "force_virtual_addressing": not self.path_style}
        endpoint = self._endpoint()
        if endpoint:
            kwargs["scheme"], kwargs["endpoint_override"] = endpoint
        key_id, secret = self._credentials()
        if key_id and secret:
            kwargs["access_key"], kwargs["secret_key"] = key_id, secret
        return fs.S3FileSystem(**kwargs)
