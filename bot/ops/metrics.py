"""The Prometheus metrics the service counts and /metrics serves (prometheus-client).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from bot.platforms.errors import COUNTED
from bot.state.schema import Status


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.mentions = Counter("bot_mentions_total", "Mentions, by what became of them",
                                ["status"], registry=r)
        for status in (Status.SEEN, Status.REPLIED, Status.IGNORED, Status.REFUSED, Status.FAILED):
            self.mentions.labels(status)  # exported at 0 before the first one
        self.reply_latency = Histogram(
            "bot_reply_latency_seconds", "From a mention fetched to its reply posted",
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800), registry=r)
        self.generation = Histogram(
            "bot_generation_seconds", "Drawing one picture (latent to PNG bytes)",
            buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 5), registry=r)
        self.rate_waits = Counter("bot_rate_limit_waits_total",
                                  "Waits for a platform rate limit or the media pacing",
                                  registry=r)
        self.pending = Gauge("bot_pending_mentions",
                             "Mentions recorded and not yet settled", registry=r)
        self.budget_wait = Gauge(
            "bot_media_budget_wait_seconds",
            "Seconds until the platform's post/media budget lets the next waiting reply go "
            "(0: none waiting)", registry=r)
        self.last_poll = Gauge("bot_last_successful_poll_timestamp_seconds",
                               "Unix time of the last poll that fetched mentions", registry=r)
        self.platform_failing = Gauge(
            "bot_platform_failing",
            "1 while the platform (or the disk the bot writes) fails and the bot backs off; "
            "0 once a request gets through again", registry=r)
        self.platform_errors = Counter(
            "bot_platform_errors_total", "Failed requests to the platform, by kind "
            "(transient: 5xx, network, processing, a full disk; rate_limited; rejected; "
            "unforeseen: an error nobody expected)", ["kind"], registry=r)
        for kind in COUNTED:
            self.platform_errors.labels(kind)

    def render(self) -> bytes:
        return generate_latest(self.registry)
