"""Alerts: a real failed run and a real failed (WARN) check, on a real Dagster instance, each posted
exactly once to a webhook server on 127.0.0.1 that records what it receives; a webhook that
answers 500 or does not listen leaves the sensor tick successful."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    DagsterInstance,
    Definitions,
    MaterializeResult,
    asset,
    build_sensor_context,
    job,
    op,
)

from resources.alerts import AlertWebhookResource
from servers.prometheus import free_port
from sensors.alerts import build_check_failure_alert_sensor, build_run_failure_alert_sensor

SECRET = "T000/B000/not-a-real-token"


class Webhook:
    """An HTTP server recording each POST's JSON body, answering ``status``."""

    def __init__(self, status: int = 200):
        self.posts: list[dict] = []
        self.status = status
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.posts.append({"path": self.path, "content_type": self.headers["Content-Type"],
                                    "json": json.loads(body)})
                self.send_response(outer.status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/{SECRET}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "Webhook":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@op
def load_orders():
    raise ValueError("the orders feed answered 503; see https://status.example.com/incident/42")


@job
def nightly_load():
    load_orders()


@asset(key=["silver", "orders"], check_specs=[
    AssetCheckSpec("orders_quarantine_rate", asset=["silver", "orders"], blocking=False)])
def orders():
    yield MaterializeResult(metadata={"dagster/row_count": 100})
    yield AssetCheckResult(check_name="orders_quarantine_rate", passed=False, severity=AssetCheckSeverity.WARN,
                           description="12 of 100 order lines quarantined (limit 10%)",
                           metadata={"failure_count": 12})


DEFS = Definitions(assets=[orders], jobs=[nightly_load])
RUN_ALERT = build_run_failure_alert_sensor(configured=True, interval_seconds=30)
CHECK_ALERT = build_check_failure_alert_sensor(configured=True, interval_seconds=30)


def tick(sensor, instance, url, cursor=None):
    """One evaluation as the daemon runs it: the returned data carries the tick's outcome and cursor."""
    context = build_sensor_context(instance=instance, cursor=cursor,
                                   resources={"alert_webhook": AlertWebhookResource(url=url, timeout_seconds=2)})
    return sensor.evaluate_tick(context)


def failed_run(instance):
    result = DEFS.get_job_def("nightly_load").execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    return result.dagster_run


def warned_run(instance):
    result = DEFS.resolve_implicit_global_asset_job_def().execute_in_process(instance=instance, raise_on_error=False)
    assert result.success  # a WARN check fails without failing its run
    return result.dagster_run


def test_a_failed_run_is_posted_once_with_job_run_and_step():
    instance = DagsterInstance.ephemeral()
    with Webhook() as hook:
        first = tick(RUN_ALERT, instance, hook.url)  # the first tick starts from now
        run = failed_run(instance)
        second = tick(RUN_ALERT, instance, hook.url, first.cursor)
        third = tick(RUN_ALERT, instance, hook.url, second.cursor)
    assert [r.error for r in second.dagster_run_reactions] == [None]
    assert third.dagster_run_reactions == []
    (post,) = hook.posts
    assert post["path"] == f"/services/{SECRET}" and post["content_type"].startswith("application/json")
    text = (f"Lakehouse run failed: job nightly_load, run {run.run_id}. Failed step(s): load_orders: "
            f"ValueError: the orders feed answered 503; see <link removed>.")
    assert post["json"] == {"text": text, "blocks": [
        {"type": "header", "text": {"type": "plain_text", "text": "Run failed: nightly_load"}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": "*Job*\nnightly_load"},
                                       {"type": "mrkdwn", "text": f"*Run id*\n{run.run_id}"}]},
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Failed steps*\n• load_orders: ValueError: "
                                                               "the orders feed answered 503; see <link removed>"}},
    ]}


def test_a_failed_warn_check_is_posted_once_with_its_failure_count():
    instance = DagsterInstance.ephemeral()
    with Webhook() as hook:
        first, run_first = tick(CHECK_ALERT, instance, hook.url), tick(RUN_ALERT, instance, hook.url)
        run = warned_run(instance)
        second = tick(CHECK_ALERT, instance, hook.url, first.cursor)
        third = tick(CHECK_ALERT, instance, hook.url, second.cursor)
        # the run-failure sensor has nothing to say about a run that succeeded
        run_tick = tick(RUN_ALERT, instance, hook.url, run_first.cursor)
    assert first.skip_message == "0 failed check(s), 0 alert(s) delivered"
    assert second.skip_message == "1 failed check(s), 1 alert(s) delivered"
    assert third.skip_message == "0 failed check(s), 0 alert(s) delivered"
    assert run_tick.dagster_run_reactions == []
    (post,) = hook.posts
    check = "silver/orders:orders_quarantine_rate"
    assert post["json"] == {
        "text": (f"Lakehouse check failed (WARN): {check}, failure_count 12; job __ASSET_JOB, run {run.run_id}. "
                 f"12 of 100 order lines quarantined (limit 10%)"),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": f"Check failed (WARN): {check}"}},
            {"type": "section", "fields": [
                {"type": "mrkdwn", "text": f"*Check*\n{check}"}, {"type": "mrkdwn", "text": "*Severity*\nWARN"},
                {"type": "mrkdwn", "text": "*Failure count*\n12"}, {"type": "mrkdwn", "text": "*Job*\n__ASSET_JOB"},
                {"type": "mrkdwn", "text": f"*Run id*\n{run.run_id}"}, {"type": "mrkdwn", "text": "*Partitions*\n—"}]},
            {"type": "section", "text": {"type": "mrkdwn", "text": "12 of 100 order lines quarantined (limit 10%)"}},
        ]}


@pytest.mark.parametrize("webhook", ["answers 500", "closed port"])
def test_a_failing_webhook_leaves_the_tick_successful_and_logs_no_secret(webhook, capfd):
    instance = DagsterInstance.ephemeral()
    with Webhook(status=500) as hook:
        url = hook.url if webhook == "answers 500" else f"http://127.0.0.1:{free_port()}/services/{SECRET}"
        run_first, check_first = tick(RUN_ALERT, instance, url), tick(CHECK_ALERT, instance, url)
        failed_run(instance)
        warned_run(instance)
        capfd.readouterr()
        run_tick = tick(RUN_ALERT, instance, url, run_first.cursor)
        check_tick = tick(CHECK_ALERT, instance, url, check_first.cursor)
        logged = capfd.readouterr().err  # the sensors' log (Dagster's console logger)
    assert [r.error for r in run_tick.dagster_run_reactions] == [None]  # the run's alert was handled, no error
    assert check_tick.skip_message == "1 failed check(s), 0 alert(s) delivered"
    assert len(hook.posts) == (2 if webhook == "answers 500" else 0)
    warnings = [line for line in logged.splitlines() if "Alert not delivered" in line]
    assert len(warnings) == 2 and all("WARNING" in w for w in warnings), logged
    host = url.split("/services")[0]
    expected = ("the webhook at {host}/… answered HTTP 500" if webhook == "answers 500"
                else "to the webhook at {host}/…: URLError: <urlopen error [Errno 111] Connection refused>")
    assert all(expected.format(host=host) in w for w in warnings), warnings
    assert SECRET not in logged and "/services" not in logged
