"""The JVM jars a Spark session needs beyond pyspark itself, and where they are.

Spark's own jars ship inside the pyspark wheel; Delta Lake's do not. Sessions get
exactly the Delta jars (no transitive dependencies: their Hadoop, Parquet and
Jackson dependencies are already in pyspark and must not be shadowed by older
copies) from the local Maven repository, by path, so a session starts offline and
without an Ivy resolution.

For the object store (``s3a://``) Spark also needs hadoop-aws and the AWS SDK v2.
They are a separate list (``s3a_artifacts``) so local Spark starts with the Delta
jars alone. hadoop-aws must match the Hadoop inside pyspark (read off its
``hadoop-client-api`` jar); the SDK modules were resolved once, at set-up, and
their coordinates recorded in a manifest in the local repository, which is read here.

This module only looks jars up. Fetching them (Maven, the generated s3a POM) and the
jars of the platform's servers (S3Proxy, the Spark Connect server's) are build
tooling: ``platform/jars.py``, whose ``python platform/jars.py fetch`` is what
``make setup`` runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

SCALA_VERSION = "2.13"
FETCH_COMMAND = "python platform/jars.py fetch"


class MissingJarsError(RuntimeError):
    pass


@dataclass(frozen=True)
class MavenArtifact:
    group: str
    artifact: str
    version: str
    classifier: str = ""

    @property
    def coordinate(self) -> str:
        if self.classifier:
            return f"{self.group}:{self.artifact}:{self.version}:jar:{self.classifier}"
        return f"{self.group}:{self.artifact}:{self.version}"

    def path_in(self, repository: Path) -> Path:
        suffix = f"-{self.classifier}" if self.classifier else ""
        return (
            repository
            / self.group.replace(".", "/")
            / self.artifact
            / self.version
            / f"{self.artifact}-{self.version}{suffix}.jar"
        )


def maven_repository() -> Path:
    """The local Maven repository (``MAVEN_REPOSITORY`` overrides ``~/.m2/repository``)."""
    return Path(os.environ.get("MAVEN_REPOSITORY", Path.home() / ".m2" / "repository"))


def delta_artifacts() -> list[MavenArtifact]:
    """Delta's Spark jars matching the installed delta-spark and pyspark versions.

    Since Delta 4.1 the artifact name carries the Spark minor version
    (``delta-spark_4.2_2.13``), the same rule ``configure_spark_with_delta_pip`` uses.
    """
    delta_version = version("delta-spark")
    spark_minor = ".".join(version("pyspark").split(".")[:2])
    return [
        MavenArtifact("io.delta", f"delta-spark_{spark_minor}_{SCALA_VERSION}", delta_version),
        MavenArtifact("io.delta", "delta-storage", delta_version),
    ]


# openlineage-spark: the newest Scala 2.13 build on Maven Central (the Python client is 1.54).
OPENLINEAGE_SPARK = MavenArtifact("io.openlineage", "openlineage-spark_2.13", "1.53.0")


def required_artifacts() -> list[MavenArtifact]:
    return delta_artifacts()


def pyspark_jars_dir() -> Path:
    import pyspark

    return Path(pyspark.__file__).resolve().parent / "jars"


def hadoop_version() -> str:
    """The Hadoop version pyspark ships (``jars/hadoop-client-api-<version>.jar``)."""
    for jar in pyspark_jars_dir().glob("hadoop-client-api-*.jar"):
        return jar.name[len("hadoop-client-api-") : -len(".jar")]
    raise MissingJarsError(f"no hadoop-client-api jar in {pyspark_jars_dir()}: cannot tell the Hadoop version")


def s3a_manifest() -> Path:
    """Where the resolved s3a classpath is recorded (per Hadoop and pyspark version)."""
    name = f"s3a-hadoop-{hadoop_version()}-pyspark-{version('pyspark')}.txt"
    return maven_repository() / ".lakehouse" / name


def s3a_artifacts() -> list[MavenArtifact]:
    """hadoop-aws and the AWS SDK jars it needs, as resolved by ``platform/jars.py``'s ``fetch_s3a``."""
    manifest = s3a_manifest()
    if not manifest.is_file():
        raise MissingJarsError(
            f"The s3a jars have not been resolved ({manifest} is missing). "
            f"Run `make setup` (or `{FETCH_COMMAND}`)."
        )
    artifacts = []
    for line in manifest.read_text().split():
        group, artifact, artifact_version = line.split(":")
        artifacts.append(MavenArtifact(group, artifact, artifact_version))
    return artifacts


def jar_paths(artifacts: list[MavenArtifact] | None = None) -> list[str]:
    """Paths of the jars in the local Maven repository; a clear error if any is missing."""
    repository = maven_repository()
    artifacts = required_artifacts() if artifacts is None else artifacts
    paths = [artifact.path_in(repository) for artifact in artifacts]
    missing = [a.coordinate for a, p in zip(artifacts, paths) if not p.is_file()]
    if missing:
        raise MissingJarsError(
            f"Spark jars not found in {repository}: {', '.join(missing)}. "
            f"Run `make setup` (or `{FETCH_COMMAND}`) to fetch them with Maven."
        )
    return [str(p) for p in paths]
