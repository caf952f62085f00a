"""Command line: ``python -m datagen --orders 1000000 --days 30``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time

from datagen.config import GeneratorConfig, default_root
from datagen.generator import generate_landing_zone


def main(argv: list[str] | None = None) -> int:
    defaults = GeneratorConfig.__dataclass_fields__
    parser = argparse.ArgumentParser(prog="python -m datagen", description="Generate a seeded landing zone.")
    parser.add_argument("--root", default=default_root(), help="landing zone directory (default: $LAKEHOUSE_ROOT/landing)")
    for name in ("customers", "products", "orders", "days", "seed", "orders_per_file"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=defaults[name].default)
    parser.add_argument("--start-date", default=defaults["start_date"].default)
    parser.add_argument("--dirt-rate", type=float, default=defaults["dirt_rate"].default)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        config = GeneratorConfig(**vars(args))
    except ValueError as error:
        parser.error(str(error))
    started = time.monotonic()
    manifest = generate_landing_zone(config)
    summary = {
        "root": config.root,
        "days": len(manifest["days"]),
        "orders": manifest["orders"]["distinct_orders"],
        "order_lines_written": manifest["orders"]["lines_written"],
        "dirt": manifest["orders"]["dirt"],
        "seconds": round(time.monotonic() - started, 2),
    }
    sys.stdout.write(json.dumps(summary) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
