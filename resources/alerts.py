"""Posting alerts to a chat webhook, in a way that can never fail a run or a sensor tick.

The webhook URL (``LAKEHOUSE_ALERT_WEBHOOK_URL``) is a secret: Slack's incoming webhooks carry
their token in the path, so the URL reaches this resource as a Dagster ``EnvVar`` and every log
line names only its scheme and host. A post that times out, is refused or gets a non-2xx answer
is logged as a warning and reported to the caller as not delivered; it is not retried (the
sensors' cursors have moved on: an alert is sent at most once).
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from typing import Any, Mapping, Optional

from dagster import ConfigurableResource, get_dagster_logger
from pydantic import Field

from resources.redact import redact_url, scrub


class AlertWebhookResource(ConfigurableResource):
    """A Slack-compatible incoming webhook: JSON ``{"text": ..., "blocks": [...]}`` by POST."""

    url: Optional[str] = Field(default=None, description="The webhook URL (a secret); unset: no alerts are sent.")
    timeout_seconds: float = Field(default=5.0, description="Longest one post may take before it is given up.")

    @property
    def enabled(self) -> bool:
        return bool(self.url)

    def post(self, payload: Mapping[str, Any], log: Optional[logging.Logger] = None) -> bool:
        """POST ``payload`` as JSON; True when the webhook answered 2xx. Never raises."""
        if not self.enabled:
            return False
        log = log or get_dagster_logger("alerts")
        request = urllib.request.Request(
            self.url, data=json.dumps(payload).encode(), method="POST",
            headers={"Content-Type": "application/json; charset=utf-8"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
                status = response.status
        except urllib.error.HTTPError as error:
            status = error.code
        except Exception as error:  # noqa: BLE001 - refused, timeout, DNS: an alert never fails a tick
            log.warning(f"Alert not delivered to the webhook at {redact_url(self.url)}: "
                        f"{type(error).__name__}: {scrub(str(error), self.url)}")
            return False
        if not 200 <= status < 300:
            log.warning(f"Alert not delivered: the webhook at {redact_url(self.url)} answered HTTP {status}")
            return False
        return True
