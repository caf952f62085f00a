"""URLs as they may appear in logs: endpoints of monitoring backends can carry secrets.

A Slack incoming-webhook URL is its own credential (the token is the path), and a Pushgateway
behind a proxy may carry ``user:password@``; warnings about a failed push or post name only the
scheme, host and port, and error texts have the full URL replaced before they are logged.
"""

from __future__ import annotations

from urllib.parse import urlparse


def redact_url(url: str | None) -> str:
    """``scheme://host:port/…``: no user info, path, query or fragment."""
    if not url:
        return "<unset>"
    parsed = urlparse(url)
    host = parsed.hostname or "?"
    port = f":{parsed.port}" if parsed.port else ""
    suffix = "/…" if (parsed.path not in ("", "/") or parsed.query or parsed.fragment) else ""
    return f"{parsed.scheme}://{host}{port}{suffix}"


def scrub(text: str, url: str | None) -> str:
    """``text`` (e.g. an exception's message) with every occurrence of ``url`` redacted."""
    if not url:
        return text
    return text.replace(url, redact_url(url)).replace(url.rstrip("/"), redact_url(url))
