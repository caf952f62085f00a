"""The Spark session resource: local, standalone cluster or Spark Connect by configuration.

Built on dagster-pyspark: ``SparkResource`` turns the platform's settings into the
``spark_config`` of a ``dagster_pyspark.LazyPySparkResource`` (``spark.master`` for
``local[*]``/``spark://``, ``spark.remote`` for ``sc://``: pyspark's
``SparkSession.builder.getOrCreate()`` switches to Spark Connect when ``spark.remote``
is set), and that resource creates the session. What dagster-pyspark has no notion of
is added here: the Delta jars and settings, leaving out the static settings a Connect
server owns, openlineage-spark's listener with the Dagster run as its parent, the log level.

One session per process. Every asset step of a run executes in the same
process (in-process executor), so the whole graph shares one JVM; the resource
never stops the session at the end of a step, because the next step needs it and
tests share it across runs. The JVM ends with the process.
"""


from typing import Mapping, Optional, Sequence

from dagster import ConfigurableResource, InitResourceContext
from dagster_pyspark import LazyPySparkResource
from pydantic import Field, PrivateAttr
from pyspark.sql import SparkSession

from resources.jars import OPENLINEAGE_SPARK, jar_paths
from resources.spark_conf import BASE_CONF


def is_connect(session: SparkSession) -> bool:
    """A Spark Connect session: no JVM in this process, so no py4j APIs (sparkContext, Delta's)."""
    try:
        from pyspark.sql.connect.session import SparkSession as ConnectSession
    except ImportError:  # the Connect client's extras are not installed
        return False
    return isinstance(session, ConnectSession)


# Static settings a Spark Connect client cannot change: they are fixed where the server starts.
SERVER_SIDE_CONF = ("spark.jars", "spark.driver.", "spark.ui.", "spark.sql.extensions", "spark.sql.catalog.")


class SparkResource(ConfigurableResource):
    """Builds (or reuses) the process's SparkSession through dagster-pyspark.

    ``master`` selects classic Spark (``local[*]``, ``spark://host:7077``);
    ``remote`` selects Spark Connect (``sc://host:15002``) and wins when set: the
    Delta jars and extensions are then the server's business.

    Not a subclass of dagster-pyspark's resources: their ``spark_config`` is fixed when the
    resource is built, while ours depends on the run (the lineage listener's parent run) and
    on the Delta resource (s3a settings and jars), so the session's ``LazyPySparkResource``
    is made when the session is first needed (``pyspark``).
    """

    app_name: str = "lakehouse"
    master: str = "local[*]"
    remote: Optional[str] = Field(default=None, description="Spark Connect URL, e.g. sc://127.0.0.1:15002")
    shuffle_partitions: int = 8
    driver_memory: str = "4g"
    ui_enabled: bool = False
    conf: dict[str, str] = Field(default_factory=dict, description="Extra Spark settings; they win over the defaults.")
    openlineage_listener: dict[str, str] = Field(
        default_factory=dict,
        description="spark.openlineage.* settings (transport, namespace) to attach openlineage-spark's listener "
        "to a classic session; empty: no listener. Its events nest under the Dagster run (parent facet).",
    )

    _run: Optional[tuple[str, str]] = PrivateAttr(default=None)  # (job name, run id) of the Dagster run

    def setup_for_execution(self, context: InitResourceContext) -> None:
        if context.dagster_run is not None:
            self._run = (context.dagster_run.job_name, context.dagster_run.run_id)

    def spark_conf(self, extra_jars: Sequence[str] = ()) -> dict[str, str]:
        conf = dict(BASE_CONF)
        conf["spark.sql.shuffle.partitions"] = str(self.shuffle_partitions)
        if not self.remote and self.openlineage_listener:
            extra_jars = [*extra_jars, *jar_paths([OPENLINEAGE_SPARK])]
            conf["spark.extraListeners"] = "io.openlineage.spark.agent.OpenLineageSparkListener"
            conf.update(self.openlineage_listener)
            if self._run is not None:  # Spark's jobs become children of the Dagster run, as the assets' events are
                namespace = self.openlineage_listener.get("spark.openlineage.namespace", "lakehouse")
                conf["spark.openlineage.parentJobNamespace"] = namespace
                conf["spark.openlineage.parentJobName"] = self._run[0]
                conf["spark.openlineage.parentRunId"] = self._run[1]
                conf["spark.openlineage.rootParentJobNamespace"] = namespace
                conf["spark.openlineage.rootParentJobName"] = self._run[0]
                conf["spark.openlineage.rootParentRunId"] = self._run[1]
        if not self.remote:
            conf["spark.jars"] = ",".join([*jar_paths(), *extra_jars])
            conf["spark.driver.memory"] = self.driver_memory
            conf["spark.ui.enabled"] = str(self.ui_enabled).lower()
        conf.update(self.conf)
        return conf

    def spark_config(self, extra_conf: Optional[Mapping[str, str]] = None, extra_jars: Sequence[str] = ()) -> dict[str, str]:
        """dagster-pyspark's ``spark_config``: the application name, ``spark.master`` or
        ``spark.remote``, and ``spark_conf()`` with ``extra_conf`` over it; over Connect without
        the static settings that belong to the server (its jars, driver, UI, SQL extension and catalog)."""
        config = {"spark.app.name": self.app_name}
        if self.remote:
            config["spark.remote"] = self.remote
        else:
            config["spark.master"] = self.master
        for key, value in {**self.spark_conf(extra_jars), **(extra_conf or {})}.items():
            if self.remote and key.startswith(SERVER_SIDE_CONF):
                continue
            config[key] = value
        return config

    def pyspark(self, extra_conf: Optional[Mapping[str, str]] = None, extra_jars: Sequence[str] = ()) -> LazyPySparkResource:
        """dagster-pyspark's resource for this configuration; its ``spark_session`` creates the session."""
        return LazyPySparkResource(spark_config=self.spark_config(extra_conf, extra_jars))

    def get_session(self, extra_conf: Optional[Mapping[str, str]] = None, extra_jars: Sequence[str] = ()) -> SparkSession:
        """The active session, or a new one; ``extra_conf``/``extra_jars`` (storage settings from
        the Delta resource) only apply when the session is created.

        The active session is returned as it is: dagster-pyspark's ``getOrCreate()`` would
        re-apply the builder's settings to a session other runs and tests share. The session is
        never stopped: neither this resource nor dagster-pyspark's (whose resources have no
        teardown, and the ``LazyPySparkResource`` made here is not a Dagster resource of the
        run, so no lifecycle reaches it) stops it at the end of a step, since every later step
        of the run and every test in the process reuses it.
        """
        active = SparkSession.getActiveSession()
        if active is not None:
            return active
        session = self.pyspark(extra_conf, extra_jars).spark_session
        if not is_connect(session):
            session.sparkContext.setLogLevel("WARN")
        return session


def connect_server_conf(environ: Optional[Mapping[str, str]] = None) -> dict[str, str]:
    """Settings of a Spark Connect server for the lakehouse (platform/spark/connect-server.sh).

    Delta as the catalog and UTC, as every session gets; the gRPC address and port and the
    driver's host name from ``SPARK_CONNECT_BIND_ADDRESS`` (default 0.0.0.0),
    ``SPARK_CONNECT_PORT`` (15002) and ``SPARK_DRIVER_HOST`` (the host name executors reach it
    by); and, when ``LAKEHOUSE_S3_BUCKET`` is set, the s3a settings of the object store without
    its keys (the server's own environment holds ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``).
    """
    import os
    import socket

    from resources.object_store import ObjectStoreResource

    environ = os.environ if environ is None else environ
    conf = dict(BASE_CONF)
    conf.update({
        "spark.connect.grpc.binding.address": environ.get("SPARK_CONNECT_BIND_ADDRESS") or "0.0.0.0",
        "spark.connect.grpc.binding.port": environ.get("SPARK_CONNECT_PORT") or "15002",
        "spark.driver.host": environ.get("SPARK_DRIVER_HOST") or socket.gethostname(),
        "spark.driver.bindAddress": environ.get("SPARK_CONNECT_BIND_ADDRESS") or "0.0.0.0",
        "spark.ui.enabled": "false",
    })
    if environ.get("LAKEHOUSE_S3_BUCKET"):
        conf.update(ObjectStoreResource.from_env().spark_conf(with_credentials=False))
    return conf


if __name__ == "__main__":
    import sys

    if sys.argv[1:] != ["connect-server-conf"]:
        sys.exit("usage: python -m resources.spark connect-server-conf")
    for key, value in connect_server_conf().items():
        sys.stdout.write(f"{key}={value}\n")
