"""Summarise the OpenLineage events of the last run and copy them to a sample file.

Run by ``make lineage-sample`` after ``make demo`` with the file transport: reads
``$LAKEHOUSE_ROOT/lineage/events.jsonl``, keeps the events of the latest Dagster
run (the parent facet's run id), writes them to ``lineage/sample-events.jsonl``
and prints one line per OpenLineage job: its states, inputs, outputs and
data-quality assertions.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from resources.settings import LakehouseSettings  # noqa: E402


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def main() -> int:
    events_file = Path(LakehouseSettings.from_env().lineage_file)
    if not events_file.is_file():
        say(f"No lineage events at {events_file}: run `make demo` with LAKEHOUSE_LINEAGE=file first.")
        return 1
    events = [json.loads(line) for line in events_file.read_text().splitlines() if line.strip()]
    last_run = events[-1]["run"]["facets"]["parent"]["run"]["runId"]
    sample = [e for e in events if e["run"]["facets"]["parent"]["run"]["runId"] == last_run]
    sample_file = events_file.with_name("sample-events.jsonl")
    sample_file.write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in sample))
    say(f"{len(sample)} OpenLineage events of Dagster run {last_run[:8]} -> {sample_file}")
    jobs: dict[str, list[dict]] = {}
    for event in sample:
        jobs.setdefault(event["job"]["name"], []).append(event)
    for name, job_events in jobs.items():
        last = job_events[-1]
        states = "/".join(e["eventType"] for e in job_events)
        outputs = ", ".join(Path(o["name"]).name for o in last.get("outputs", []))
        assertions = [a for i in last.get("inputs", [])
                      for a in i.get("inputFacets", {}).get("dataQualityAssertions", {}).get("assertions", [])]
        detail = (f"{sum(a['success'] for a in assertions)}/{len(assertions)} assertions passed" if assertions
                  else f"{len(last.get('inputs', []))} inputs -> {outputs}")
        say(f"  {name:<58} {states:<15} {detail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
