"""Log lines, as text or JSON, with every configured secret scrubbed from them.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime


class ScrubSecrets(logging.Filter):
    """Replace every configured secret in the final message (arguments included)."""

    def __init__(self, secrets: list[str]):
        super().__init__()
        self.secrets = [s for s in secrets if len(s) >= 4]

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            for secret in self.secrets:
                message = message.replace(secret, "***")
            record.msg, record.args = message, None
            if record.exc_info:  # tracebacks too: format now, scrub, drop the raw info
                text = logging.Formatter().formatException(record.exc_info)
                for secret in self.secrets:
                    text = text.replace(secret, "***")
                record.exc_text, record.exc_info = text, None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(
                   timespec="milliseconds"),
               "level": record.levelname.lower(), "logger": record.name,
               "message": record.getMessage()}
        for key in ("mention_id", "platform", "status"):
            if hasattr(record, key):
                out[key] = getattr(record, key)
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["error"] = record.exc_text
        return json.dumps(out, ensure_ascii=False)


def setup_logging(fmt: str = "text", secrets: list[str] | None = None) -> None:
    """One line per event on stderr; JSON when asked; secrets never written."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ScrubSecrets(secrets or []))
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    for noisy in ("apscheduler", "urllib3", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
