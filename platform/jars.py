"""Build tooling for the JVM jars: fetch them once with Maven; the platform's servers' jars.

``python platform/jars.py fetch`` is what ``make setup`` (and the image's build stage)
runs: it downloads into the local Maven repository every jar the sessions look up
(``resources/jars.py``: Delta, s3a, openlineage-spark) and the jars of the platform's
servers, and skips what is already there, so re-running it costs nothing.

- Delta's jars, without transitive dependencies (pyspark already ships newer Hadoop,
  Parquet and Jackson).
- s3a: instead of the AWS SDK's 650 MB ``bundle`` (which hadoop-aws declares), Maven
  resolves the S3 client and transfer-manager modules (about 13 MB) once, on a generated
  POM that leaves out every artifact pyspark already ships (netty, httpclient, slf4j,
  ...); the resolved coordinates go into the manifest ``resources.jars.s3a_artifacts``
  reads, so later sessions find the jars without Maven.
- S3Proxy (``S3PROXY``), the object store of the tests and the compose stack, as its
  self-contained jar, and openlineage-spark.

It also prints the jars the platform's start scripts hand to their servers:
``connect-server-paths`` (platform/spark/connect-server.sh) and ``s3proxy-path``
(platform/objectstore/start.sh).

platform/ is not a package (``platform`` is a standard-library module): this file is run
as a script and puts the repository root on ``sys.path`` to import ``resources``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from xml.sax.saxutils import escape

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from resources.jars import (  # noqa: E402
    OPENLINEAGE_SPARK,
    MavenArtifact,
    MissingJarsError,
    delta_artifacts,
    hadoop_version,
    jar_paths,
    maven_repository,
    pyspark_jars_dir,
    required_artifacts,
    s3a_artifacts,
    s3a_manifest,
)

# The S3-compatible server for tests and the compose stack: S3Proxy on its
# filesystem backend (Java, so it runs wherever Spark does). 4.1 answers
# conditional PUTs (If-None-Match: *) with 412, which delta-rs commits rely on.
S3PROXY = MavenArtifact("org.gaul", "s3proxy", "4.1.0", classifier="jar-with-dependencies")


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


def jar_artifact_ids(directory: Path) -> list[str]:
    """Artifact ids of the jars in a directory (``netty-codec-http-4.2.13.Final.jar`` -> ``netty-codec-http``)."""
    ids = set()
    for jar in directory.glob("*.jar"):
        match = re.match(r"(.+?)-\d[^-]*(?:-.*)?\.jar$", jar.name)
        ids.add(match.group(1) if match else jar.stem)
    return sorted(ids)


def s3a_pom(hadoop: str, provided: list[str]) -> str:
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

    Resolution runs Maven on a generated POM (see ``s3a_pom``) and records the
    coordinates in the manifest; with the manifest and the jars present this is
    a no-op that needs neither Maven nor the network.
    """
    manifest = s3a_manifest()
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
        pom.write_text(s3a_pom(hadoop_version(), jar_artifact_ids(pyspark_jars_dir())))
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


def fetch_all() -> list[str]:
    """Everything ``make setup`` fetches: Delta, s3a, S3Proxy, openlineage-spark."""
    return [*fetch(), *fetch_s3a(), *fetch([S3PROXY]), *fetch([OPENLINEAGE_SPARK])]


USAGE = "usage: python platform/jars.py [fetch|paths|connect-server-paths|s3a-paths|s3proxy-path]"


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "fetch"
    if command == "fetch":
        for path in fetch_all():
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
        sys.stderr.write(f"{USAGE} (got {command!r})\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
