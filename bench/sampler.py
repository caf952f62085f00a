"""Wall time and peak memory of a command and everything it starts.

Peak memory is the largest sum of resident set sizes over the process and all its descendants
(the Python driver, the JVM that pyspark starts, DuckDB's threads), sampled every ``interval``
seconds with psutil. Shared pages count once per process, as ``ps`` shows them: the figure is an
upper bound of what the tree holds, and a spike shorter than the interval can be missed.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional, Sequence

import psutil


@dataclass(frozen=True)
class Measurement:
    seconds: float
    peak_rss_bytes: int
    returncode: int
    load_before: float  # 1-minute load average when the command started: a busy machine shows here

    @property
    def peak_rss_mib(self) -> float:
        return self.peak_rss_bytes / 2**20


def _tree_rss(root: psutil.Process) -> int:
    total = 0
    try:
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total


def measure(command: Sequence[str], *, env: Optional[Mapping[str, str]] = None, cwd: Optional[Path] = None,
            log: Optional[Path] = None, interval: float = 0.1, timeout: Optional[float] = None) -> Measurement:
    """Run ``command`` to completion; its output goes to ``log`` (or nowhere)."""
    load = os.getloadavg()[0]
    out = open(log, "wb") if log else subprocess.DEVNULL
    peak = 0
    try:
        started = time.monotonic()
        child = subprocess.Popen(list(command), env=dict(env) if env else None, cwd=cwd, stdout=out,
                                 stderr=subprocess.STDOUT)
        root = psutil.Process(child.pid)
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, _tree_rss(root))
                done.wait(interval)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            returncode = child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            for process in [*root.children(recursive=True), root]:
                try:
                    process.kill()
                except psutil.NoSuchProcess:
                    pass
            returncode = child.wait()
        seconds = time.monotonic() - started
        done.set()
        sampler.join()
    finally:
        if log:
            out.close()
    return Measurement(seconds, peak, returncode, load)
