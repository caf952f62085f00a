"""The JVM artifacts Spark needs beyond pyspark itself, fetched once with Maven.

Spark's own jars ship inside the pyspark wheel; Delta Lake's do not. We fetch
exactly the Delta jars (no transitive dependencies: their Hadoop, Parquet and
Jackson dependencies are already in pyspark and must not be shadowed by older
copies) into the local Maven repository during set-up, and hand Spark their
paths, so a session starts offline and without an Ivy resolution.

For the object store (``s3a://``) Spark also needs hadoop-aws and the AWS SDK v2.
They are a separate list (``s3a_artifacts``) so local Spark starts with the Delta
jars alone. hadoop-aws must match the Hadoop inside pyspark (read off its
``hadoop-client-api`` jar), and hadoop-aws names the SDK version it was built
with. Instead of the SDK's 650 MB ``bundle`` (which hadoop-aws declares), Maven
resolves the S3 client and transfer-manager modules (about 13 MB) once, leaving
out every artifact pyspark already ships (netty, httpclient, slf4j, ...), and the
resolved coordinates are recorded in a manifest in the local repository, so later
sessions find the jars without Maven.

The S3Proxy server (``S3PROXY``) the tests and the compose stack use as the
object store is fetched the same way, as its self-contained jar.

``python -m resources.jars fetch`` is what ``make setup`` runs; it skips jars
that are already present, so re-running it costs nothing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from xml.sax.saxutils import escape

SCALA_VERSION = "2.13"


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


# The S3-compatible server for tests and the compose stack: S3Proxy on its
# filesystem backend (Java, so it runs wherever Spark does). 4.1 answers
# conditional PUTs (If-None-Match: *) with 412, which delta-rs commits rely on.
S3PROXY = MavenArtifact("org.gaul", "s3proxy", "4.1.0", classifier="jar-with-dependencies")


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


def _s3a_manifest() -> Path:
    """Where the resolved s3a classpath is recorded (per Hadoop and pyspark version)."""
    name = f"s3a-hadoop-{hadoop_version()}-pyspark-{version('pyspark')}.txt"
    return maven_repository() / ".lakehouse" / name


def s3a_artifacts() -> list[MavenArtifact]:
    """hadoop-aws and the AWS SDK jars it needs, as resolved by ``fetch_s3a``."""
    manifest = _s3a_manifest()
    if not manifest.is_file():
        raise MissingJarsError(
            f"The s3a jars have not been resolved ({manifest} is missing). "
            "Run `make setup` (or `python -m resources.jars fetch`)."
        )
    artifacts = []
    for line in manifest.read_text().split():
        group, artifact, artifact_version = line.split(":")
        artifacts.append(MavenArtifact(group, artifact, artifact_version))
    return artifacts


def _jar_artifact_ids(directory: Path) -> list[str]:
    """Artifact ids of the jars in a directory (``netty-codec-http-4.2.13.Final.jar`` -> ``netty-codec-http``)."""
    ids = set()
    for jar in directory.glob("*.jar"):
        match = re.match(r"(.+?)-\d[^-]*(?:-.*)?\.jar$", jar.name)
        ids.add(match.group(1) if match else jar.stem)
    return sorted(ids)


def _s3a_pom(hadoop: str, provided: list[str]) -> str:
    """A throw-away POM whose runtime classpath is exactly what s3a adds to pyspark.

    Its parent is Hadoop's own ``hadoop-project`` POM, so hadoop-aws and the
    SDK version (``aws-java-sdk-v2.version``) are the ones that Hadoop release
    was built and tested with. The SDK ``bundle`` is swapped for the S3 client
    and transfer-manager modules; every artifact pyspark ships is excluded so
    no second copy can shadow it.
    """
    exclusions = "".join(
        f"<exclusion><groupId>*</groupId><artifactId>{escape(a)}</artifactId></exclusion>" for a in provided
    )
    bundle = "<exclusion><groupId>software.amazon.awssdk</groupId><artifactId>bundle</artifactId></exclusion>"
    sdk = "".join(
        f"<dependency><groupId>software.amazon.awssdk</groupId><artifactId>{module}</artifactId>"
        f"<version>${{aws-java-sdk-v2.version}}</version><exclusions>{exclusions}</exclusions></dependency>"
        for module in ("s3", "s3-transfer-manager")
    )
    return f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <parent>
    <groupId>org.apache.hadoop</groupId><artifactId>hadoop-project</artifactId>
    <version>{escape(hadoop)}</version><relativePath/>
  </parent>
  <groupId>lakehouse.local</groupId><artifactId>s3a-classpath</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.hadoop</groupId><artifactId>hadoop-aws</artifactId>
      <version>{escape(hadoop)}</version><exclusions>{bundle}{exclusions}</exclusions></dependency>
    {sdk}
  </dependencies>
</project>
"""


def fetch_s3a() -> list[str]:
    """Resolve (once) and fetch the s3a jars; return their paths.

    Resolution runs Maven on a generated POM (see ``_s3a_pom``) and records the
    coordinates in the manifest; with the manifest and the jars present this is
    a no-op that needs neither Maven nor the network.
    """
    manifest = _s3a_manifest()
    if manifest.is_file():
        try:
            return jar_paths(s3a_artifacts())
        except MissingJarsError:
            pass  # a jar was removed from the repository: resolve again
    mvn = shutil.which("mvn")
    if mvn is None:
        raise MissingJarsError("Maven (`mvn`) is required on PATH to fetch the s3a jars.")
    repository = maven_repository()
    with tempfile.TemporaryDirectory(prefix="lakehouse-s3a-") as tmp:
        pom = Path(tmp) / "pom.xml"
        listing = Path(tmp) / "dependencies.txt"
        pom.write_text(_s3a_pom(hadoop_version(), _jar_artifact_ids(pyspark_jars_dir())))
        subprocess.run(
            [
                mvn, "-q", "-B", "-f", str(pom), "dependency:list",
                "-DincludeScope=runtime", "-DexcludeTransitive=false",
                f"-DoutputFile={listing}", f"-Dmaven.repo.local={repository}",
            ],
            check=True,
        )
        coordinates = []
        for line in listing.read_text().splitlines():
            # "   group:artifact:jar:version:scope -- module ..."
            parts = line.strip().split(" ")[0].split(":")
            if len(parts) == 5 and parts[2] == "jar":
                coordinates.append(f"{parts[0]}:{parts[1]}:{parts[3]}")
    if not coordinates:
        raise MissingJarsError(f"Maven resolved no s3a jars for Hadoop {hadoop_version()}")
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text("\n".join(coordinates) + "\n")
    return jar_paths(s3a_artifacts())


def connect_server_artifacts() -> list[MavenArtifact]:
    """What a Spark Connect server needs on top of pyspark's jars (which include
    ``spark-connect_2.13``): the Delta jars, for its SQL extension and catalog, and the s3a
    jars, for tables in an object store.

    Delta's Connect plugin (``io.delta:delta-connect-server_<spark>_2.13``, which serves the
    Python ``DeltaTable`` API over Connect) is not on the Maven Central our CI reaches, so
    ``resources/delta.py`` speaks Delta SQL to a Connect server instead.
    """
    return delta_artifacts() + s3a_artifacts()


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
        for path in [*fetch(), *fetch_s3a(), *fetch([S3PROXY]), *fetch([OPENLINEAGE_SPARK])]:
            sys.stdout.write(f"{path}\n")
    elif command == "paths":
        sys.stdout.write(",".join(jar_paths()) + "\n")
    elif command == "connect-server-paths":
        sys.stdout.write(",".join(connect_server_jar_paths()) + "\n")
    elif command == "s3a-paths":
        sys.stdout.write(",".join(jar_paths(s3a_artifacts())) + "\n")
    elif command == "s3proxy-path":
        sys.stdout.write(jar_paths([S3PROXY])[0] + "\n")
    else:
        sys.exit(f"usage: python -m resources.jars [fetch|paths|connect-server-paths|s3a-paths|s3proxy-path] (got {command!r})")
