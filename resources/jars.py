"""The JVM artifacts Spark needs beyond pyspark itself, fetched once with Maven.

Spark's own jars ship inside the pyspark wheel; Delta Lake's do not. We fetch
exactly the Delta jars (no transitive dependencies: their Hadoop, Parquet and
Jackson dependencies are already in pyspark and must not be shadowed by older
copies) into the local Maven repository during set-up, and hand Spark their
paths, so a session starts offline and without an Ivy resolution.

``python -m resources.jars fetch`` is what ``make setup`` runs; it skips jars
that are already present, so re-running it costs nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

SCALA_VERSION = "2.13"


@dataclass(frozen=True)
class MavenArtifact:
    group: str
    artifact: str
    version: str

    @property
    def coordinate(self) -> str:
        return f"{self.group}:{self.artifact}:{self.version}"

    def path_in(self, repository: Path) -> Path:
        return (
            repository
            / self.group.replace(".", "/")
            / self.artifact
            / self.version
            / f"{self.artifact}-{self.version}.jar"
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


def required_artifacts() -> list[MavenArtifact]:
    return delta_artifacts()


def connect_server_artifacts() -> list[MavenArtifact]:
    """What a Spark Connect server needs on top of pyspark's jars (which include
    ``spark-connect_2.13``): the Delta jars, for its SQL extension and catalog.

    Delta's Connect plugin (``io.delta:delta-connect-server_<spark>_2.13``, which serves the
    Python ``DeltaTable`` API over Connect) is not on the Maven Central our CI reaches, so
    ``resources/delta.py`` speaks Delta SQL to a Connect server instead.
    """
    return delta_artifacts()


def connect_server_jar_paths() -> list[str]:
    return jar_paths(connect_server_artifacts())


class MissingJarsError(RuntimeError):
    pass


def jar_paths(artifacts: list[MavenArtifact] | None = None) -> list[str]:
    """Paths of the jars in the local Maven repository; a clear error if any is missing."""
    repository = maven_repository()
    artifacts = required_artifacts() if artifacts is None else artifacts
    paths = [artifact.path_in(repository) for artifact in artifacts]
    missing = [a.coordinate for a, p in zip(artifacts, paths) if not p.is_file()]
    if missing:
        raise MissingJarsError(
            f"Spark jars not found in {repository}: {', '.join(missing)}. "
            "Run `make setup` (or `python -m resources.jars fetch`) to fetch them with Maven."
        )
    return [str(p) for p in paths]


def fetch(artifacts: list[MavenArtifact] | None = None) -> list[str]:
    """Download missing jars with Maven's dependency plugin; return all jar paths."""
    repository = maven_repository()
    artifacts = required_artifacts() if artifacts is None else artifacts
    mvn = shutil.which("mvn")
    for artifact in artifacts:
        if artifact.path_in(repository).is_file():
            continue
        if mvn is None:
            raise MissingJarsError("Maven (`mvn`) is required on PATH to fetch the Spark jars.")
        subprocess.run(
            [
                mvn, "-q", "-B", "dependency:get",
                f"-Dartifact={artifact.coordinate}",
                "-Dtransitive=false",
                f"-Dmaven.repo.local={repository}",
            ],
            check=True,
        )
    return jar_paths(artifacts)


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "fetch"
    if command == "fetch":
        for path in fetch():
            sys.stdout.write(f"{path}\n")
    elif command == "paths":
        sys.stdout.write(",".join(jar_paths()) + "\n")
    else:
        sys.exit(f"usage: python -m resources.jars [fetch|paths] (got {command!r})")
