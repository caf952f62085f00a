"""Real servers for tests: started on 127.0.0.1 free ports, stopped by PID."""

from __future__ import annotations

import functools
import importlib.util
import sys
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
