"""The outbox: the one path by which a post answering a mention goes out, exactly once.

Media uploaded and kept in the state file with the text and latents (Outgoing), the
platform's processing asked about from the loop, the mention marked replying, then posted and
settled with its cost in one transaction; a mention found replying is looked for on the
platform before anything is sent again.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from bot.conversation.decision import (
    Decision,
)
from bot.platforms.base import Mention, Posted, Uploaded
from bot.platforms.errors import (
    PlatformError,
    Transient,
)
from bot.state.records import Outgoing, Picture, Record
from bot.state.schema import Status, Wait

log = logging.getLogger("bot.service")  # one logger name for the whole service


# Media the platform has not processed this long after its upload is given up (a failed
# attempt) and uploaded afresh at the next one. An upload kept for a post that could not go
# out (a budget, a rate limit, retries) is used up to UPLOAD_KEEP after it was made: Mastodon
# and X drop unattached media after about a day.
PROCESSING_LIMIT = 15 * 60.0


UPLOAD_KEEP = 6 * 3600.0


class Outbox:
    """One part of Service (bot.service.loop): every post that answers a mention goes
    out through here, exactly once."""

    def _found_earlier_reply(self, record: Record) -> bool:
        """Look for the bot's own answer on the platform; settle the mention if there is one.
        True also when the look failed (counted as an attempt): nothing more to do now."""
        m = record.mention
        try:
            found = self.platform.find_reply(m)
        except PlatformError as exc:
            self._failed_attempt(record, exc)
            return True
        if found is None:
            return False
        log.info("mention %s: found my earlier reply %s; not replying twice", m.id, found.id)
        out = self.state.outgoing(self.name, m.id)
        if out is None:  # in flight before posts were kept, or a backup restored: no latents
            self._settle(m, Status.REPLIED, "recovered", reply_id=found.id,
                         uploads=self._costs(1)[1])
        else:
            self._sent(m, out, found, recovered=True)
        return True

    def _outgoing(self, m: Mention) -> Outgoing | None:
        """The post on its way for this mention, unless its upload is too old to attach."""
        out = self.state.outgoing(self.name, m.id)
        if out is None or out.uploaded is None:
            return out
        if self.clock.now() - out.uploaded_at < UPLOAD_KEEP:
            return out
        log.info("mention %s: media %s uploaded too long ago; deciding afresh", m.id,
                 ", ".join(out.uploaded.ids))
        self.state.drop_outgoing(self.name, m.id)
        return None

    def _costs(self, pictures: int) -> tuple[int, int]:
        """What a post with this many pictures costs against the platform's budget: (at the
        upload, at the post). Mastodon counts uploads; X counts posts, whatever they carry."""
        if self.platform.budget_counts == "media":
            return pictures, 0
        return 0, 1

    def _send(self, record: Record, out: Outgoing) -> None:
        """The one way a post answers a mention, reply or note: media processed, the post
        budget free, the mention marked replying with what it is, then posted and settled."""
        m = record.mention
        if out.uploaded is not None and not out.uploaded.ready:
            checked = self._check_processing(record, out)
            if checked is None:
                return
            out = checked
        if self.platform.budget_counts == "posts":  # X: the post itself is what counts
            free_at = self._budget_free_at(1)
            if free_at > self.clock.now():
                self._wait(record, Decision("wait", "waiting for the media budget",
                                            until=free_at, wait=Wait.BUDGET))
                return
        if out.uploaded is not None:
            log.info("mention %s: media %s uploaded, posting the reply", m.id,
                     ", ".join(out.uploaded.ids))
        self.state.start_reply(self.name, m.id, out)
        try:
            if out.is_note:
                posted = self.platform.send_note(m, out.text)
            else:
                assert out.uploaded is not None
                posted = self.platform.reply(m, out.text, out.uploaded)
        except PlatformError as exc:
            self._failed_attempt(record, exc)
            return
        self._sent(m, out, posted)

    def _check_processing(self, record: Record, out: Outgoing) -> Outgoing | None:
        """Ask the platform once about media it is processing: the post when it is ready, else
        None (the mention stays pending until the platform's next check, or has failed)."""
        m = record.mention
        assert out.uploaded is not None
        try:
            uploaded = self.platform.processed(out.uploaded)
        except PlatformError as exc:
            self._failed_attempt(record, exc)  # Rejected (processing failed) settles it
            return None
        out = replace(out, uploaded=uploaded)
        if uploaded.ready:
            return out
        if self.clock.now() - out.uploaded_at >= PROCESSING_LIMIT:
            self.state.drop_outgoing(self.name, m.id)
            self._failed_attempt(record, Transient(
                f"media {', '.join(uploaded.waiting)} still being processed after "
                f"{PROCESSING_LIMIT / 60:.0f} min; uploading it again"))
            return None
        self.state.save_outgoing(self.name, m.id, out)
        self._processing(record, uploaded)
        return None

    def _processing(self, record: Record, uploaded: Uploaded) -> None:
        m = record.mention
        if not uploaded.checks:
            log.info("mention %s: %s is processing media %s; looking again from the loop",
                     m.id, self.name, ", ".join(uploaded.waiting))
        self.state.retry_later(self.name, m.id, uploaded.check_in,
                               f"media being processed ({uploaded.checks} looks so far)",
                               Wait.PROCESSING)

    def _sent(self, m: Mention, out: Outgoing, posted: Posted, recovered: bool = False) -> None:
        """Settle a mention whose post is out (sent now, or found after a crash)."""
        self._platform_ok("answer")
        uploads = self._costs(len(out.pictures))[1]
        if out.is_note:
            self._noted(m, out, posted, uploads)
            return
        pictures = [replace(p, post_id=posted.id, url=posted.url) for p in out.pictures]
        self._settle(m, Status.REPLIED, "recovered" if recovered else out.reason,
                     reply_id=posted.id, seed_id=pictures[0].seed_id, pictures=pictures,
                     uploads=uploads)
        started = self._fetched_at.pop(m.id, None)
        if started is not None:
            self.stats.latencies.append(self.clock.now() - started)
            self.metrics.reply_latency.observe(self.clock.now() - started)
        log.info("mention %s from @%s: replied %s (%s, seed %s)", m.id, m.author, posted.id,
                 out.reason, pictures[0].seed_id, extra={
                     "mention_id": m.id, "platform": self.name, "status": Status.REPLIED})

    def _noted(self, m: Mention, out: Outgoing, posted: Posted, uploads: int) -> None:
        """A text-only answer is out (the limit note, the help, "no such seed"): remember
        it for the per-person rules, and settle the mention."""
        if out.kind == "help":  # asked for: its own rule, once a day
            self.state.record_help(self.name, m.author_id)
        else:  # every other note: one per person per hour, whatever its kind
            self.state.record_note(self.name, m.author_id)
        if out.kind == "help":
            self._settle(m, Status.REPLIED, "help", reply_id=posted.id, pictures=[],
                         uploads=uploads)
        else:
            self._settle(m, Status.REFUSED, out.reason, uploads=uploads)

    def _settle(self, m: Mention, status: Status, reason: str | None,
                reply_id: str | None = None, seed_id: int | None = None,
                pictures: list[Picture] | None = None, uploads: int = 0) -> None:
        self.state.settle(self.name, m.id, status, reason, reply_id, seed_id, pictures,
                          uploads)
        self.metrics.mentions.labels(status).inc()
        if reply_id is None:  # settled without a post of its own (a delete too): tidy up
            self.platform.settle(m)
        if status != Status.REPLIED:
            self._fetched_at.pop(m.id, None)
            log.info("mention %s from @%s: %s (%s)", m.id, m.author, status, reason,
                     extra={"mention_id": m.id, "platform": self.name, "status": status})
        setattr(self.stats, status, getattr(self.stats, status) + 1)
