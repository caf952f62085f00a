"""Real servers for tests: started on 127.0.0.1 free ports, stopped by PID."""

from __future__ import annotations

import functools
import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

REPO_ROOT = Path(__file__).resolve().parents[2]


@functools.cache
def platform_jars() -> ModuleType:
    """platform/jars.py (the jar build tooling, and the servers' jars such as ``S3PROXY``),
    loaded by path: platform/ is deliberately not a package (it would shadow the stdlib module)."""
    name = "lakehouse_platform_jars"
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "platform" / "jars.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def stop_process_group(process: subprocess.Popen, timeout: float = 20.0) -> None:
    """SIGTERM to a process started with ``start_new_session=True`` and its whole group (a JVM, the
    runs a daemon launched), then SIGKILL to whatever outlives ``timeout``; reaps the process."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and _group_alive(process.pid):
            process.poll()
            time.sleep(0.2)
        if not _group_alive(process.pid):
            break
    process.poll()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
