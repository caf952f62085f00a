"""An S3-compatible object store for tests: S3Proxy on its filesystem backend.

S3Proxy (org.gaul:s3proxy, the self-contained jar from Maven Central, fetched by
``make setup`` through ``platform/jars.py``) is a real S3 server implementation
with AWS Signature V4 authentication, multipart uploads, server-side copy and
conditional PUT (``If-None-Match: *`` -> 412), storing objects as files under
a directory. It starts in under a second on 127.0.0.1 and a free port; the
test run stops it by PID.

Usage::

    with s3proxy_server() as server:
        server.endpoint, server.bucket, server.access_key_id, server.secret_access_key
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

from resources.jars import jar_paths

from . import platform_jars

START_SCRIPT = Path(__file__).resolve().parents[2] / "platform" / "objectstore" / "start.sh"


@dataclass(frozen=True)
class ObjectStoreServer:
    endpoint: str
    bucket: str
    access_key_id: str
    secret_access_key: str
    region: str
    pid: int
    data_dir: Path
    log_file: Path
    startup_seconds: float

    def env(self, prefix: str = "lakehouse") -> dict[str, str]:
        """The environment contract's variables pointing at this server."""
        return {
            "LAKEHOUSE_S3_BUCKET": self.bucket,
            "LAKEHOUSE_S3_PREFIX": prefix,
            "LAKEHOUSE_S3_ENDPOINT": self.endpoint,
            "LAKEHOUSE_S3_REGION": self.region,
            "LAKEHOUSE_S3_PATH_STYLE": "true",
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
        }


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_serving(endpoint: str, process: subprocess.Popen, log_file: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"S3Proxy exited with {process.returncode}:\n{log_file.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(endpoint + "/", timeout=1).close()
            return
        except urllib.error.HTTPError:
            return  # any S3 answer (403 for an anonymous request) means it is serving
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"S3Proxy did not answer on {endpoint} within {timeout}s:\n{log_file.read_text()[-3000:]}")


def stop_pid(process: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM the server's PID, SIGKILL it if it does not exit in time."""
    if process.poll() is not None:
        return
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=grace)


@contextlib.contextmanager
def s3proxy_server(
    bucket: str = "lakehouse", region: str = "us-east-1", workdir: Optional[Path] = None, timeout: float = 30.0
) -> Iterator[ObjectStoreServer]:
    """Start S3Proxy on 127.0.0.1 with ``bucket`` (platform/objectstore/start.sh), yield, stop by PID."""
    java = shutil.which("java")
    if java is None:
        raise RuntimeError("java is required on PATH to run S3Proxy")
    jar = jar_paths([platform_jars().S3PROXY])[0]
    own_dir = workdir is None
    root = Path(tempfile.mkdtemp(prefix="s3proxy-")) if own_dir else Path(workdir)
    data_dir = root / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    access_key_id, secret_access_key = "test" + secrets.token_hex(8), secrets.token_hex(20)
    env = {**os.environ, "AWS_ACCESS_KEY_ID": access_key_id, "AWS_SECRET_ACCESS_KEY": secret_access_key,
           "LAKEHOUSE_S3_BUCKET": bucket, "LAKEHOUSE_S3_REGION": region, "S3PROXY_JAR": jar,
           "S3PROXY_DATA_DIR": str(data_dir), "S3PROXY_ENDPOINT": endpoint, "TMPDIR": str(root)}
    log_file = root / "s3proxy.log"
    started = time.monotonic()
    with open(log_file, "wb") as log:
        # The compose stack's own start script: the bucket exists when the server answers.
        process = subprocess.Popen(
            [str(START_SCRIPT)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C in the test terminal reaches pytest, which stops it by PID
        )
    try:
        _wait_until_serving(endpoint, process, log_file, timeout)
        startup = time.monotonic() - started
        server = ObjectStoreServer(
            endpoint, bucket, access_key_id, secret_access_key, region, process.pid, data_dir, log_file, startup
        )
        yield server
    finally:
        stop_pid(process)
        if own_dir:
            shutil.rmtree(root, ignore_errors=True)
