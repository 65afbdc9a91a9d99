"""Answering a mention: the facts looked up, the pure decision asked, the pictures drawn and
handed to the outbox.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import datetime
from pathlib import Path

from bot.conversation.decision import (
    HOUR,
    Decision,
    Facts,
    Quota,
    budget_free_at,
    decide,
)
from bot.conversation.texts import reply_text
from bot.drawing.artist import Drawing
from bot.platforms.base import Mention
from bot.platforms.errors import (
    DiskFull,
    PlatformError,
    is_disk_full,
)
from bot.service.polling import round_robin
from bot.service.retry import Fatal, Unforeseen
from bot.state.records import Outgoing, Picture, Record
from bot.state.schema import Status, Wait

log = logging.getLogger("bot.service")  # one logger name for the whole service


class Answering:
    """One part of Service (bot.service.loop): a mention's facts looked up, decide()
    asked, and what it says done. Its state lives on the Service (set in Service.__init__)."""

    def work(self) -> float:
        """Answer every pending mention that is due, authors taking turns. Returns the time the
        next pending one is due (0: none pending)."""
        not_before = self._not_before()
        for record in round_robin(self.state.pending(self.name)):
            if self.stopping or self.clock.now() < self._answers_blocked_until:
                break  # the platform is failing: the mention that failed last probes it
            if record.next_attempt_at <= self.clock.now():
                self.handle(record, not_before)
        pending = self.state.pending(self.name)
        self.metrics.pending.set(len(pending))
        wait = max(0.0, self._budget_free_at() - self.clock.now())
        waiting = any(r.waiting_for is Wait.BUDGET for r in pending)
        self.metrics.budget_wait.set(wait if waiting else 0.0)
        return min((max(r.next_attempt_at, self._answers_blocked_until) for r in pending),
                   default=0.0)

    def _budget_free_at(self, need: int = 1) -> float:
        count, window = self.platform.media_limit
        now = self.clock.now()
        return budget_free_at(self.state.uploads_since(self.name, now - window),
                              (count, window), now, self._posts_blocked_until, need)

    def _facts(self, m: Mention, not_before: datetime | None) -> Facts:
        count, window = self.platform.media_limit
        now = self.clock.now()
        parent = self.state.pictures_of(self.name, m.in_reply_to_id) if m.in_reply_to_id else []
        return Facts(me=self.me, now=now, not_before=not_before, quota=self._quota(m.author_id),
                     uploads=self.state.uploads_since(self.name, now - window),
                     media_limit=(count, window), blocked_until=self._posts_blocked_until,
                     notes_use_budget=self.platform.budget_counts == "posts", parent=parent,
                     budget_counts=self.platform.budget_counts,
                     seed_ids=self.artist.seed_ids, text_limit=self.platform.text_limit,
                     last_help=self.state.last_help(self.name, m.author_id))

    def _quota(self, author_id: str) -> Quota:
        hour_ago = self.clock.now() - HOUR
        return Quota(self.state.replies_since(self.name, author_id, hour_ago),
                     self.state.oldest_reply_since(self.name, author_id, hour_ago),
                     self.state.last_note(self.name, author_id))

    def handle(self, record: Record, not_before: datetime | None) -> None:
        """Answer one pending mention now, or leave it pending with its due time. Never waits
        for a due time (only on I/O); an unexpected exception counts as a failed attempt of this
        mention."""
        try:
            self._handle(record, not_before)
        except (Fatal, sqlite3.Error):
            raise
        except Exception as exc:
            if is_disk_full(exc):  # written outside the platform: a full disk all the same
                assert isinstance(exc, OSError)
                folder = Path(exc.filename).parent if exc.filename else Path.cwd()
                self._failed_attempt(record, DiskFull(folder, exc))
                return
            log.exception("mention %s: answering failed unexpectedly", record.mention.id)
            self._failed_attempt(record, Unforeseen(f"unexpected error: {exc!r}"))

    def _handle(self, record: Record, not_before: datetime | None) -> None:
        m = record.mention
        if record.status == Status.REPLYING and self._found_earlier_reply(record):
            return  # a post went out before a crash or a lost answer
        out = self._outgoing(m)
        if out is not None:  # decided before: media uploaded, or a post that did not go out
            self._send(record, out)
            return
        decision = decide(m, self._facts(m, not_before), self.settings, self.artist.vocabulary)
        if decision.action == "ignore":
            self._settle(m, Status.IGNORED, decision.reason)
        elif decision.action == "refuse":
            self._settle(m, Status.REFUSED, decision.reason)
        elif decision.action == "wait":
            self._wait(record, decision)
        elif decision.action == "delete":
            self._delete(record, decision)
        else:
            # Before posting anything: a reply may exist already (a state file restored from
            # a backup). Only for mentions that will be answered: "thanks!" costs nothing.
            if (record.status != Status.REPLYING and self.platform.look_before_reply
                    and self._found_earlier_reply(record)):
                return
            if decision.action == "note":
                self._send(record, Outgoing(decision.note, decision.reason, decision.text))
            else:
                self._reply(record, decision)

    def _wait(self, record: Record, decision: Decision) -> None:
        m = record.mention
        if record.reason != decision.reason or record.next_attempt_at < decision.until:
            self._rate_wait()
            log.info("mention %s: %s of %s; due in %.0fs", m.id, decision.reason, self.name,
                     decision.until - self.clock.now())
        self.state.retry_later(self.name, m.id, decision.until - self.clock.now(),
                               decision.reason, decision.wait)

    def _delete(self, record: Record, decision: Decision) -> None:
        """Delete a picture at the request of the person it was made for; say nothing."""
        m, target = record.mention, decision.target
        assert target is not None
        try:
            self.platform.delete(target.post_id)
        except PlatformError as exc:
            self._failed_attempt(record, exc)
            return
        self._platform_ok("answer")
        self.state.mark_deleted(self.name, target.post_id)
        self._settle(m, Status.REPLIED, decision.reason, pictures=[])
        log.info("mention %s from @%s: deleted my post %s on request", m.id, m.author,
                 target.post_id)

    def _drawings(self, m: Mention, decision: Decision) -> tuple[list[Drawing], str]:
        """The pictures a reply carries, and what kind they are."""
        request, target, artist = decision.request, decision.target, self.artist
        assert request is not None
        rid, lang = f"{self.name}:{m.id}", request.lang  # alt texts in the request's language
        if target is None or request.command in ("picture", "like"):
            drawing = artist.draw(rid, request.seed_id, lang, request.kind, request.tone)
            return [drawing], "picture"
        if request.command == "variations":
            return artist.draw_near(rid, artist.latent_of(target), 4,
                                    self.settings.variation_sigma,
                                    target.seed_id, lang), "variation"
        if request.command == "morph":
            return [artist.morph(rid, artist.latent_of(target), target.seed_id, lang)], "morph"
        # again: near the same good seed; if the curator has removed it since, near the
        # picture itself with the same noise
        if target.seed_id is not None and target.seed_id in artist.seed_ids:
            return [artist.draw(rid, target.seed_id, lang)], "picture"
        return artist.draw_near(rid, artist.latent_of(target), 1, self.settings.sigma,
                                target.seed_id, lang), "picture"

    def _reply(self, record: Record, decision: Decision) -> None:
        """Draw, upload and keep the reply on its way (its text, latents and media), then send
        it: at once when the media is ready, from the loop when the platform processes it."""
        m, request = record.mention, decision.request
        assert request is not None
        with self.metrics.generation.time():
            try:
                drawings, kind = self._drawings(m, decision)
            except Exception as exc:  # a broken generator must not crash-loop the service
                log.exception("mention %s: drawing failed", m.id)
                self._settle(m, Status.FAILED, f"drawing failed: {exc}")
                return
        # The budget again, at the moment of the upload: the decision was taken before the
        # look for an earlier reply, and nothing may go past the platform's limit.
        at_upload, at_post = self._costs(len(drawings))
        free_at = self._budget_free_at(at_upload + at_post)
        if free_at > self.clock.now():
            self._wait(record, Decision("wait", "waiting for the media budget", until=free_at,
                                        wait=Wait.BUDGET))
            return
        try:
            uploaded = self.platform.upload([d.media for d in drawings])
        except PlatformError as exc:
            self._failed_attempt(record, exc)
            return
        parent = decision.target.post_id if decision.target is not None else None
        pictures = tuple(Picture("", kind, d.z, d.seed_id, d.sigma, idx=i, mention_id=m.id,
                                 for_author_id=m.author_id, parent_post_id=parent,
                                 morph_to=d.morph_to, classes=dict(d.classes))
                         for i, d in enumerate(drawings))
        out = Outgoing("reply", request.command,
                       reply_text(m, [d.what for d in drawings], request, self.settings,
                                  self.platform.text_limit, self.artist.vocabulary),
                       pictures, uploaded,
                       self.clock.now())
        self.state.save_outgoing(self.name, m.id, out, uploads=at_upload)
        if not uploaded.ready:  # asked again when the platform says, from the loop
            self._processing(record, uploaded)
            return
        self._send(record, out)
