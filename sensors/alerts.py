"""Alert sensors: a failed run, and a failed asset check, each posted once to the chat webhook.

- ``run_failure_alert`` (a run-failure sensor: Dagster's cursor sees each failed run once) names
  the job, the run id, the failed steps with their errors, and the checks that failed in the run
  with their ``failure_count``.
- ``check_failure_alert`` posts every failed check evaluation, ERROR and WARN alike (a WARN check
  fails without failing its run, e.g. a quarantine rate or schema drift), as soon as a tick sees
  it, also while its run is still going. One post per run and check: a range run's per-day
  evaluations of a check go into its one post. Its cursor keeps, per run still in flight or
  recently finished, the last evaluation already alerted, and a watermark of finished runs, so
  each failed evaluation is alerted once on any Dagster storage (SQLite keeps events per run).

Messages are Slack-compatible (``text`` for notifications and other chat tools, ``blocks`` for
Slack), carry no links, and never the webhook URL. A webhook that fails is a warning in the
sensor's log; the tick still succeeds and the alert is not retried.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Optional, Sequence

from dagster import (
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SkipReason,
    run_failure_sensor,
    sensor,
)
from dagster._core.storage.dagster_run import IN_PROGRESS_RUN_STATUSES  # no public name in dagster 1.13

from resources.alerts import AlertWebhookResource

# Clocks of the processes that finish runs differ a little: finished runs are looked at again for
# this long after the watermark (their evaluations already alerted are remembered meanwhile).
OVERLAP_SECONDS = 120.0
MAX_TEXT = 500  # characters of an error message in an alert
URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)


def plain(text: Optional[str], limit: int = MAX_TEXT) -> str:
    """One line of ``text``, links removed, at most ``limit`` characters."""
    line = next((l.strip() for l in (text or "").splitlines() if l.strip()), "")
    line = URL.sub("<link removed>", line)
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _value(metadata: dict, key: str) -> Any:
    value = metadata.get(key)
    return getattr(value, "value", value)


@dataclass(frozen=True)
class FailedCheck:
    """A check that failed in one run (all its failed evaluations there)."""

    run_id: str
    job: str
    check: str  # "<asset key>:<check name>"
    severity: str
    failure_count: int
    partitions: tuple[str, ...]
    description: str


def failed_checks(run: DagsterRun, evaluations: Sequence[Any]) -> list[FailedCheck]:
    """The failed ones among a run's check evaluations, one per check: the failure count of the
    whole-range evaluation when a range run recorded one, else the sum over the failed days."""
    by_check: dict[str, list] = {}
    for evaluation in evaluations:
        if not evaluation.passed:
            by_check.setdefault(f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}", []).append(evaluation)
    out = []
    for check, failed in sorted(by_check.items()):
        whole = [e for e in failed if e.partition is None]
        counted = whole[-1:] if whole else failed
        described = next((e for e in counted if e.description), None)
        rule = next((_value(e.metadata, "failed_rule") for e in counted if _value(e.metadata, "failed_rule")), None)
        out.append(FailedCheck(
            run_id=run.run_id, job=run.job_name, check=check, severity=failed[0].severity.value,
            failure_count=int(sum(int(_value(e.metadata, "failure_count") or 0) for e in counted)),
            partitions=tuple(sorted({e.partition for e in failed if e.partition})),
            description=plain(described.description if described else rule or ""),
        ))
    return out


def _evaluations(instance: DagsterInstance, run_id: str, after: int = -1) -> tuple[list, int]:
    """The run's check evaluations stored after ``after``, and the last storage id seen."""
    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION).records
    new = [r for r in records if r.storage_id > after]
    last = max([after, *(r.storage_id for r in records)])
    return [r.event_log_entry.dagster_event.event_specific_data for r in new], last


def _fields(*pairs: tuple[str, str]) -> dict:
    return {"type": "section", "fields": [{"type": "mrkdwn", "text": f"*{name}*\n{value}"} for name, value in pairs]}


def _check_line(check: FailedCheck) -> str:
    days = f" on {', '.join(check.partitions)}" if check.partitions else ""
    return f"{check.check} ({check.severity}, failure_count {check.failure_count}){days}"


def step_error(event: Any) -> str:
    """What went wrong in a failed step: the user's exception, not Dagster's wrapper around it."""
    error = getattr(event.event_specific_data, "error", None)
    while error is not None and error.cause is not None and (error.cls_name or "").startswith("Dagster"):
        error = error.cause
    return plain(error.message if error is not None else event.message)


def run_failure_message(run: DagsterRun, step_failures: Sequence[Any], failure_message: Optional[str],
                        checks: Sequence[FailedCheck]) -> dict:
    """The alert for a failed run: job, run id, failed steps and their errors, failed checks."""
    steps = [f"{e.step_key}: {step_error(e)}" for e in step_failures]
    text = f"Lakehouse run failed: job {run.job_name}, run {run.run_id}."
    if steps:
        text += " Failed step(s): " + "; ".join(steps) + "."
    elif failure_message:
        text += f" {plain(failure_message)}"
    if checks:
        text += " Failed check(s): " + "; ".join(_check_line(c) for c in checks) + "."
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": f"Run failed: {run.job_name}"}},
        _fields(("Job", run.job_name), ("Run id", run.run_id)),
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Failed steps*\n" + (
            "\n".join(f"• {s}" for s in steps) or plain(failure_message) or "none recorded")}},
    ]
    if checks:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "*Failed checks*\n" + "\n".join(
            f"• {_check_line(c)}" for c in checks)}})
    return {"text": text, "blocks": blocks}


def check_failure_message(check: FailedCheck) -> dict:
    """The alert for a failed check: which check, how bad, in which run of which job."""
    days = f" on {', '.join(check.partitions)}" if check.partitions else ""
    text = (f"Lakehouse check failed ({check.severity}): {check.check}, failure_count {check.failure_count}{days}; "
            f"job {check.job}, run {check.run_id}." + (f" {check.description}" if check.description else ""))
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": f"Check failed ({check.severity}): {check.check}"}},
        _fields(("Check", check.check), ("Severity", check.severity), ("Failure count", str(check.failure_count)),
                ("Job", check.job), ("Run id", check.run_id), ("Partitions", ", ".join(check.partitions) or "—")),
    ]
    if check.description:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": check.description}})
    return {"text": text, "blocks": blocks}


def _status(configured: bool) -> DefaultSensorStatus:
    return DefaultSensorStatus.RUNNING if configured else DefaultSensorStatus.STOPPED


def build_run_failure_alert_sensor(configured: bool, interval_seconds: int) -> SensorDefinition:
    @run_failure_sensor(
        name="run_failure_alert",
        description="Posts each failed run (job, run id, failed steps and checks) to the alert webhook once.",
        minimum_interval_seconds=interval_seconds,
        default_status=_status(configured),
    )
    def run_failure_alert(context: RunFailureSensorContext, alert_webhook: AlertWebhookResource):
        if not alert_webhook.enabled:
            return None
        run = context.dagster_run
        try:
            evaluations, _ = _evaluations(context.instance, run.run_id)
            message = run_failure_message(run, context.get_step_failure_events(), context.failure_event.message,
                                          failed_checks(run, evaluations))
        except Exception as error:  # noqa: BLE001 - an alert never fails a tick
            context.log.warning(f"Alert for failed run {run.run_id} not built: {type(error).__name__}: {error}",
                                exc_info=True)
            return None
        if alert_webhook.post(message, context.log):
            context.log.info(f"alert posted for failed run {run.run_id} ({run.job_name})")
        return None  # None lets the sensor go on to the next failed run in the same tick

    return run_failure_alert


@dataclass
class CheckAlertCursor:
    watermark: float = 0.0  # finished runs updated before this (minus the overlap) were read to their end
    seen: dict[str, int] = field(default_factory=dict)  # run id -> last check evaluation storage id handled

    def to_json(self) -> str:
        return json.dumps({"w": self.watermark, "s": self.seen}, sort_keys=True)

    @classmethod
    def from_json(cls, text: Optional[str]) -> Optional["CheckAlertCursor"]:
        if not text:
            return None
        data = json.loads(text)
        return cls(float(data.get("w", 0.0)), {k: int(v) for k, v in data.get("s", {}).items()})


def new_check_failures(instance: DagsterInstance, cursor: Optional[CheckAlertCursor], now: float
                       ) -> tuple[list[FailedCheck], CheckAlertCursor]:
    """The checks that failed since ``cursor``, and the next cursor. Without a cursor (the first
    tick) nothing is reported: history is not alerted, only what happens from now on."""
    first = cursor is None
    cursor = cursor or CheckAlertCursor(watermark=now)
    since = datetime.fromtimestamp(cursor.watermark - OVERLAP_SECONDS, tz=timezone.utc)
    records = {r.dagster_run.run_id: r for r in instance.get_run_records(RunsFilter(updated_after=since))}
    records.update({r.dagster_run.run_id: r for r in
                    instance.get_run_records(RunsFilter(statuses=list(IN_PROGRESS_RUN_STATUSES)))})
    failures: list[FailedCheck] = []
    seen: dict[str, int] = {}
    watermark = cursor.watermark
    for run_id, record in records.items():
        evaluations, last = _evaluations(instance, run_id, cursor.seen.get(run_id, -1))
        if not first:
            failures.extend(failed_checks(record.dagster_run, evaluations))
        finished = record.dagster_run.status not in IN_PROGRESS_RUN_STATUSES
        updated = record.update_timestamp.timestamp()
        if finished:
            watermark = max(watermark, updated)
        seen[run_id] = last
    # Forget runs that finished before the overlap window: they are not read again.
    cutoff = watermark - OVERLAP_SECONDS
    seen = {run_id: last for run_id, last in seen.items()
            if records[run_id].dagster_run.status in IN_PROGRESS_RUN_STATUSES
            or records[run_id].update_timestamp.timestamp() >= cutoff}
    return failures, CheckAlertCursor(watermark, seen)


def build_check_failure_alert_sensor(configured: bool, interval_seconds: int) -> SensorDefinition:
    @sensor(
        name="check_failure_alert",
        description="Posts each failed asset check (ERROR or WARN) to the alert webhook once, with its failure_count.",
        minimum_interval_seconds=interval_seconds,
        default_status=_status(configured),
    )
    def check_failure_alert(context: SensorEvaluationContext, alert_webhook: AlertWebhookResource):
        now = datetime.now(timezone.utc).timestamp()
        failures, cursor = new_check_failures(context.instance, CheckAlertCursor.from_json(context.cursor), now)
        context.update_cursor(cursor.to_json())
        if not alert_webhook.enabled:
            return SkipReason(f"{len(failures)} failed check(s); LAKEHOUSE_ALERT_WEBHOOK_URL is not set")
        delivered = sum(1 for failure in failures if alert_webhook.post(check_failure_message(failure), context.log))
        return SkipReason(f"{len(failures)} failed check(s), {delivered} alert(s) delivered")

    return check_failure_alert
