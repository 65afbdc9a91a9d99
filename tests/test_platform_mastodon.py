"""The Mastodon adapter against recorded Mastodon answers (Mastodon.py's own test suite),
served by `responses` at the recordings' host, http://localhost:3000.

Variations (429, 5xx, 401, 404, pages of notifications, broken JSON) keep the recorded shape
and headers with values changed. The adapter never waits for processing: it says how long to
wait (`check_in`) and the service asks again from its loop; nothing here sleeps.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from pydantic import SecretStr
from responses import matchers

from bot.platforms.base import Me, Media, Mention, Posted, Reaction
from bot.platforms.errors import AuthFailed, PlatformError, RateLimited, Rejected, Transient
from bot.platforms.mastodon import MastodonPlatform, reply_key
from bot.settings import MastodonSettings
from tests.fixtures_http import (
    add,
    file_parts,
    form_fields,
    header,
    load,
    recorded,
    require_fixtures,
)
from tests.helpers import reply_through

require_fixtures()

BASE = "http://localhost:3000"
NOTIFICATIONS = f"{BASE}/api/v1/notifications"
VERIFY = recorded("mastodon-api/status_reply.json", "GET", "/accounts/verify_credentials")
ME_ID = VERIFY["body"]["id"]  # 117020565693913441, @admin
NOTES = recorded("mastodon-api/notifications_mentions_only.json", "GET", "/api/v1/notifications")
NOTE = NOTES["body"][0]  # notification 21: admin mentions @mastodonpy_test
MEDIA_202 = recorded("mastodon-api/media_post_true.json", "POST", "/api/v2/media")
MEDIA_200 = recorded("mastodon-api/media_post_true.json", "GET", "/api/v1/media/")
MEDIA_ID = MEDIA_202["body"]["id"]
# status_reply.json: mastodonpy_test_2 posts 117020583245459824, admin replies 117020583258292382
PARENT = recorded("mastodon-api/status_reply.json", "POST", "/api/v1/statuses", 0)
REPLY = recorded("mastodon-api/status_reply.json", "POST", "/api/v1/statuses", 1)
DELETED = recorded("mastodon-api/status_reply.json", "DELETE", "/api/v1/statuses/")
STRANGER = PARENT["body"]["account"]  # mastodonpy_test_2, not the bot
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
ALT = "A small generated picture of a person in a red shirt."
PICTURE = [Media(PNG, "image/png", ALT)]
# GET /api/v1/instance/ as Mastodon.py's test suite recorded it (trimmed): media_post asks for
# the server version once, to choose /api/v2/media and to wait for processing.
INSTANCE_V1 = {"uri": "localhost:3000", "title": "Mastodon", "short_description": "",
               "description": "", "email": "", "version": "4.5.0",
               "urls": {"streaming_api": "ws://localhost:4000"}, "languages": ["en"],
               "registrations": True, "approval_required": False, "invites_enabled": True,
               "contact_account": None, "rules": []}
INSTANCE_V2 = {"domain": "localhost:3000", "title": "Mastodon", "version": "4.5.0",
               "api_versions": {"mastodon": 7}}


def settings(**kw: Any) -> MastodonSettings:
    return MastodonSettings(base_url=BASE, access_token=SecretStr("tok"), **kw)


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def sleeps() -> list[float]:
    """The waits the adapter asked for before each look at a processing upload (the service
    waits them from its loop; nothing here sleeps)."""
    return []


@pytest.fixture
def platform(rsps: responses.RequestsMock) -> MastodonPlatform:
    """A started adapter (the account already a bot); the start's calls are cleared."""
    add(rsps, "GET", f"{BASE}/api/v1/accounts/verify_credentials", VERIFY,
        body={**VERIFY["body"], "bot": True})
    p = MastodonPlatform(settings())
    p.start()
    rsps.calls.reset()
    return p


def query(call: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


def future_reset(seconds: int = 300) -> tuple[str, datetime]:
    """An x-ratelimit-reset value in the recordings' format, some minutes ahead."""
    at = (datetime.now(UTC) + timedelta(seconds=seconds)).replace(microsecond=524560)
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), at


def note(note_id: int, status_id: int, created_at: datetime, visibility: str = "public",
         bot: bool = False, bio: str = "") -> dict[str, Any]:
    """The recorded mention notification with changed ids, time and author details."""
    n = copy.deepcopy(NOTE)
    stamp = created_at.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    n.update(id=str(note_id), group_key=f"ungrouped-{note_id}", created_at=stamp)
    n["status"].update(id=str(status_id), created_at=stamp, visibility=visibility,
                       url=f"{BASE}/@admin/{status_id}")
    for account in (n["account"], n["status"]["account"]):
        account.update(bot=bot, note=bio)
    return n


def page_of(notes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A page as Mastodon sends it: newest first."""
    return sorted(notes, key=lambda n: int(n["id"]), reverse=True)


def a_mention(mention_id: str = PARENT["body"]["id"], visibility: str = "public") -> Mention:
    return Mention(id=mention_id, author="mastodonpy_test_2", author_id="117020566092212359",
                   author_is_bot=False, author_bio="", text="<p>Toot, finally!</p>",
                   is_html=True, visibility=visibility,
                   created_at=datetime(2026, 8, 1, 13, 53, 15, tzinfo=UTC))


# ---------------------------------------------------------------- start


def test_start_flags_the_account_as_a_bot(rsps: responses.RequestsMock) -> None:
    add(rsps, "GET", f"{BASE}/api/v1/accounts/verify_credentials", VERIFY)
    assert VERIFY["body"]["bot"] is False
    add(rsps, "PATCH", f"{BASE}/api/v1/accounts/update_credentials", VERIFY,
        body={**VERIFY["body"], "bot": True})
    me = MastodonPlatform(settings()).start()
    assert me == Me(id="117020565693913441", handle="admin")
    assert len(rsps.calls) == 2
    patch = rsps.calls[1].request
    assert patch.method == "PATCH"
    assert form_fields(patch)["bot"][0].lower() in ("1", "true")
    assert header(rsps.calls[0].request, "Authorization") == "Bearer tok"


@pytest.mark.parametrize(("bot", "flag_bot"), [(True, True), (False, False)])
def test_start_leaves_the_account_alone(rsps: responses.RequestsMock, bot: bool,
                                        flag_bot: bool) -> None:
    add(rsps, "GET", f"{BASE}/api/v1/accounts/verify_credentials", VERIFY,
        body={**VERIFY["body"], "bot": bot})
    me = MastodonPlatform(settings(flag_bot=flag_bot)).start()
    assert me.id == ME_ID
    assert [c.request.method for c in rsps.calls] == ["GET"]  # no PATCH


def test_start_with_a_bad_token_is_auth_failed(rsps: responses.RequestsMock) -> None:
    add(rsps, "GET", f"{BASE}/api/v1/accounts/verify_credentials", VERIFY, status=401,
        body={"error": "The access token is invalid"})
    with pytest.raises(AuthFailed):
        MastodonPlatform(settings()).start()


SCOPE_403 = {"error": "This action is outside the authorized scopes"}
TOKEN_SCOPES = "read write:statuses write:media"


def test_start_without_write_accounts_warns_and_goes_on(
        rsps: responses.RequestsMock, caplog: pytest.LogCaptureFixture) -> None:
    """A token with read write:statuses write:media may not set the bot flag: Mastodon answers
    403 on the PATCH. The flag is etiquette, not a need: warn with what to do, and run."""
    add(rsps, "GET", f"{BASE}/api/v1/accounts/verify_credentials", VERIFY)
    add(rsps, "PATCH", f"{BASE}/api/v1/accounts/update_credentials", VERIFY, status=403,
        body=SCOPE_403)
    with caplog.at_level("WARNING", logger="bot.platforms.mastodon"):
        me = MastodonPlatform(settings()).start()
    assert me == Me(id=ME_ID, handle="admin")
    [warning] = [r for r in caplog.records if r.levelname == "WARNING"]
    text = warning.getMessage()
    assert "write:accounts" in text and "by hand" in text and "\n" not in text


def test_start_goes_on_when_the_server_refuses_the_bot_flag(
        rsps: responses.RequestsMock) -> None:
    """Any refusal of the optional PATCH (here a 422) is a warning, never a start that fails
    (the service would retry a Rejected start forever)."""
    add(rsps, "GET", f"{BASE}/api/v1/accounts/verify_credentials", VERIFY)
    add(rsps, "PATCH", f"{BASE}/api/v1/accounts/update_credentials", VERIFY, status=422,
        body={"error": "Validation failed: Bot is not allowed"})
    assert MastodonPlatform(settings()).start().id == ME_ID


def test_start_with_a_token_that_cannot_read_is_auth_failed(
        rsps: responses.RequestsMock) -> None:
    add(rsps, "GET", f"{BASE}/api/v1/accounts/verify_credentials", VERIFY, status=403,
        body=SCOPE_403)
    with pytest.raises(AuthFailed, match="read:accounts"):
        MastodonPlatform(settings()).start()


# ---------------------------------------------------------------- mentions


# every page asks for the filtered notifications too and for Mastodon's largest page (80)
# (mentions, favourites and boosts in the same requests)
EVERY_PAGE = {"types[]": ["mention", "favourite", "reblog"], "limit": "80",
              "include_filtered": "true"}


def on_page(params: dict[str, str]) -> tuple[Any, ...]:
    return (matchers.query_param_matcher({**EVERY_PAGE, **params}, strict_match=True),)


def test_mentions_page_forward_from_the_cursor(
        rsps: responses.RequestsMock, platform: MastodonPlatform) -> None:
    add(rsps, "GET", NOTIFICATIONS, NOTES, match=on_page({"min_id": "20"}))
    add(rsps, "GET", NOTIFICATIONS, NOTES, body=[], match=on_page({"min_id": "21"}))
    [m] = platform.fetch_mentions("20", None)
    assert len(rsps.calls) == 2

    status = NOTE["status"]
    assert m.id == status["id"] == "117020577157693549"
    assert m.cursor == m.position == "21"
    assert m.author == "admin" and m.author_id == "117020565693913441"
    assert m.is_html is True and m.text == status["content"]
    assert m.visibility == "public" and m.author_is_bot is False and m.author_bio == ""
    assert m.created_at == datetime(2026, 8, 1, 13, 51, 42, 823000, tzinfo=UTC)


def test_mention_carries_bio_bot_flag_and_visibility(
        rsps: responses.RequestsMock, platform: MastodonPlatform) -> None:
    n = note(22, 117020577157693600, datetime(2026, 8, 1, 14, tzinfo=UTC), visibility="direct",
             bot=True, bio="<p>I am a bot, beep</p>")
    add(rsps, "GET", NOTIFICATIONS, NOTES, body=[n], match=on_page({"min_id": "21"}))
    add(rsps, "GET", NOTIFICATIONS, NOTES, body=[], match=on_page({"min_id": "22"}))
    [m] = platform.fetch_mentions("21", None)
    assert m.visibility == "direct" and m.author_is_bot is True
    assert m.author_bio == "<p>I am a bot, beep</p>"
    assert (m.id, m.cursor) == ("117020577157693600", "22")


def test_a_backlog_bigger_than_a_page_is_read_in_full(
        rsps: responses.RequestsMock, platform: MastodonPlatform) -> None:
    t0 = datetime(2026, 8, 1, 12, tzinfo=UTC)
    notes = [note(100 + i, 117020577157700000 + i, t0 + timedelta(seconds=i))
             for i in range(1, 84)]  # notifications 101..183
    add(rsps, "GET", NOTIFICATIONS, NOTES, body=page_of(notes[:80]),
        match=on_page({"min_id": "100"}))
    add(rsps, "GET", NOTIFICATIONS, NOTES, body=page_of(notes[80:]),
        match=on_page({"min_id": "180"}))
    add(rsps, "GET", NOTIFICATIONS, NOTES, body=[], match=on_page({"min_id": "183"}))
    got = platform.fetch_mentions("100", None)
    assert len(got) == 83 and len(rsps.calls) == 3
    assert sorted(int(m.cursor) for m in got) == list(range(101, 184))
    assert {m.id for m in got} == {n["status"]["id"] for n in notes}


def test_other_notification_types_and_repeats_are_dropped(
        rsps: responses.RequestsMock, platform: MastodonPlatform) -> None:
    t0 = datetime(2026, 8, 1, 12, tzinfo=UTC)
    mention = note(31, 117020577157700031, t0)
    favourite = reaction(32, 117020577157700032, "favourite")
    deleted = {**note(33, 117020577157700033, t0), "status": None}
    follow = {**note(34, 117020577157700034, t0), "type": "follow", "status": None}
    poll = {**note(35, 117020577157700035, t0), "type": "poll"}
    add(rsps, "GET", NOTIFICATIONS, NOTES,
        body=[poll, follow, deleted, favourite, mention, mention],
        match=on_page({"min_id": "30"}))
    add(rsps, "GET", NOTIFICATIONS, NOTES, body=[], match=on_page({"min_id": "35"}))
    assert [m.cursor for m in platform.fetch_mentions("30", None)] == ["31"]
    assert [r.id for r in platform.take_reactions()] == ["32"]  # not a mention


def reaction(note_id: int, status_id: int, kind: str, owner: dict[str, Any] | None = None,
             reactor: dict[str, Any] = STRANGER) -> dict[str, Any]:
    """A favourite or reblog notification: `reactor` (mastodonpy_test_2) reacts to a status
    of `owner` (the bot, admin, unless given). For a reblog Mastodon sends the boosted status,
    not the boost."""
    n = note(note_id, status_id, datetime(2026, 8, 1, 12, tzinfo=UTC))
    n.update(type=kind, account=copy.deepcopy(reactor))
    if owner is not None:
        n["status"]["account"] = copy.deepcopy(owner)
    return n


def test_favourites_and_boosts_of_the_bot_statuses_are_reactions_handed_over_once(
        rsps: responses.RequestsMock, platform: MastodonPlatform) -> None:
    mine, theirs = 117020577157700040, 117020577157700049
    notes = [note(41, 117020577157700041, datetime(2026, 8, 1, 12, tzinfo=UTC)),
             reaction(42, mine, "favourite"),
             reaction(43, mine, "reblog"),
             reaction(44, theirs, "favourite", owner=STRANGER),  # not the bot's status
             reaction(45, theirs, "reblog", owner=STRANGER)]
    add(rsps, "GET", NOTIFICATIONS, NOTES, body=page_of([*notes, notes[2]]),
        match=on_page({"min_id": "40"}))
    add(rsps, "GET", NOTIFICATIONS, NOTES, body=[], match=on_page({"min_id": "45"}))
    assert platform.take_reactions() == []  # nothing fetched yet
    [m] = platform.fetch_mentions("40", None)
    assert m.cursor == "41"
    got = sorted(platform.take_reactions(), key=lambda r: r.id)
    assert got == [
        Reaction(id="42", kind="favourite", post_id=str(mine), account_id=STRANGER["id"],
                 cursor="42"),
        Reaction(id="43", kind="reblog", post_id=str(mine), account_id=STRANGER["id"],
                 cursor="43"),
    ]
    assert platform.take_reactions() == []  # handed over once


def test_a_failed_fetch_hands_over_no_stale_reactions(
        rsps: responses.RequestsMock, platform: MastodonPlatform) -> None:
    add(rsps, "GET", NOTIFICATIONS, NOTES, body=[reaction(51, 117020577157700050, "favourite")],
        match=on_page({"min_id": "50"}))
    add(rsps, "GET", NOTIFICATIONS, NOTES, body=[], match=on_page({"min_id": "51"}))
    add(rsps, "GET", NOTIFICATIONS, NOTES, status=503, body="<html>error</html>",
        headers={"link": ""}, match=on_page({"min_id": "60"}))
    assert platform.fetch_mentions("50", None) == []  # read, never taken
    with pytest.raises(Transient):
        platform.fetch_mentions("60", None)
    assert platform.take_reactions() == []


def test_a_mention_carries_the_status_it_replies_to(
        rsps: responses.RequestsMock, platform: MastodonPlatform) -> None:
    t0 = datetime(2026, 8, 1, 12, tzinfo=UTC)
    answer, fresh = note(61, 117020577157700061, t0), note(62, 117020577157700062, t0)
    answer["status"]["in_reply_to_id"] = "117020583258292382"  # a bot reply
    assert fresh["status"]["in_reply_to_id"] is None
    add(rsps, "GET", NOTIFICATIONS, NOTES, body=[fresh, answer],
        match=on_page({"min_id": "60"}))
    add(rsps, "GET", NOTIFICATIONS, NOTES, body=[], match=on_page({"min_id": "62"}))
    got = {m.cursor: m.in_reply_to_id for m in platform.fetch_mentions("60", None)}
    assert got == {"61": "117020583258292382", "62": ""}


def test_without_a_cursor_pages_back_to_the_backlog_window(
        rsps: responses.RequestsMock, platform: MastodonPlatform) -> None:
    not_before = datetime(2026, 8, 1, 12, tzinfo=UTC)
    # notifications 330..171, one every 30 s back from 12:59:30: page 2 reaches past 12:00
    newest = datetime(2026, 8, 1, 12, 59, 30, tzinfo=UTC)
    notes = [note(330 - i, 117020577157800330 - i, newest - timedelta(seconds=30 * i))
             for i in range(160)]
    add(rsps, "GET", NOTIFICATIONS, NOTES, body=notes[:80], match=on_page({}))
    add(rsps, "GET", NOTIFICATIONS, NOTES, body=notes[80:],
        match=on_page({"max_id": "251"}))
    got = platform.fetch_mentions(None, not_before)
    assert len(rsps.calls) == 2  # no third page: page 2 reaches back past not_before
    recent = {n["id"] for n in notes[:120]}  # 12:59:30 .. 12:00
    assert recent <= {m.cursor for m in got}


def test_without_a_cursor_stops_at_the_end_of_the_notifications(
        rsps: responses.RequestsMock, platform: MastodonPlatform) -> None:
    t0 = datetime(2026, 8, 1, 13, tzinfo=UTC)
    notes = [note(12 - i, 117020577157700012 - i, t0 - timedelta(minutes=i)) for i in range(3)]
    add(rsps, "GET", NOTIFICATIONS, NOTES, body=notes, match=on_page({}))
    add(rsps, "GET", NOTIFICATIONS, NOTES, body=[], match=on_page({"max_id": "10"}))
    got = platform.fetch_mentions(None, datetime(2026, 8, 1, tzinfo=UTC))
    assert sorted(m.cursor for m in got) == ["10", "11", "12"]


def test_every_page_asks_for_filtered_mentions_80_at_a_time(
        rsps: responses.RequestsMock, platform: MastodonPlatform) -> None:
    """Since Mastodon 4.3 private mentions from accounts the bot does not follow are filtered
    by default, and GET /api/v1/notifications leaves them out without include_filtered=true:
    a stranger's direct request would never be seen. 80 is the largest page Mastodon gives."""
    add(rsps, "GET", NOTIFICATIONS, NOTES)  # with a cursor: pages forward
    add(rsps, "GET", NOTIFICATIONS, NOTES, body=[])
    add(rsps, "GET", NOTIFICATIONS, NOTES, body=[])  # without one: pages back
    assert len(platform.fetch_mentions("20", None)) == 1
    assert platform.fetch_mentions(None, datetime(2026, 8, 1, tzinfo=UTC)) == []
    assert len(rsps.calls) == 3
    for call in rsps.calls:
        assert urlsplit(call.request.url).path == "/api/v1/notifications"
        q = query(call)
        assert q["include_filtered"] == ["true"] and q["limit"] == ["80"]
        assert q["types[]"] == ["mention", "favourite", "reblog"]
    assert query(rsps.calls[0])["min_id"] == ["20"]


def test_a_server_older_than_4_3_still_works(
        rsps: responses.RequestsMock, platform: MastodonPlatform) -> None:
    """A server before 4.3 knows no include_filtered (it ignores unknown query parameters) and
    no /api/v2/notifications: only GET /api/v1/notifications is registered here, answering
    the recorded page whatever the query; any other request would fail the fetch."""
    add(rsps, "GET", NOTIFICATIONS, NOTES)
    add(rsps, "GET", NOTIFICATIONS, NOTES, body=[])
    [m] = platform.fetch_mentions("20", None)
    assert (m.id, m.cursor) == (NOTE["status"]["id"], "21")
    assert {urlsplit(c.request.url).path for c in rsps.calls} == {"/api/v1/notifications"}


# ---------------------------------------------------------------- reply


def register_upload(rsps: responses.RequestsMock) -> None:
    add(rsps, "GET", f"{BASE}/api/v1/instance/", MEDIA_200, body=INSTANCE_V1)
    add(rsps, "GET", f"{BASE}/api/v2/instance/", MEDIA_200, body=INSTANCE_V2)
    add(rsps, "POST", f"{BASE}/api/v2/media", MEDIA_202)
    add(rsps, "GET", f"{BASE}/api/v1/media/{MEDIA_ID}", MEDIA_200)


def calls_to(rsps: responses.RequestsMock, method: str, path: str) -> list[Any]:
    return [c.request for c in rsps.calls
            if c.request.method == method and urlsplit(c.request.url).path == path]


@pytest.mark.parametrize(("mention_vis", "settings_vis", "expected"), [
    ("direct", "unlisted", "direct"),
    ("public", "unlisted", "unlisted"),
    ("private", "unlisted", "private"),
    ("unlisted", "public", "unlisted"),
    ("public", "public", "public"),
])
def test_reply_uploads_waits_and_replies(rsps: responses.RequestsMock, sleeps: list[float],
                                         mention_vis: str, settings_vis: str,
                                         expected: str) -> None:
    p = MastodonPlatform(settings(visibility=settings_vis))
    register_upload(rsps)
    add(rsps, "POST", f"{BASE}/api/v1/statuses", REPLY,
        body={**REPLY["body"], "visibility": expected})
    mention = a_mention(visibility=mention_vis)
    posted = reply_through(p, mention, "@mastodonpy_test_2 here is your human", PICTURE,
                           sleeps)
    assert posted == Posted(id=REPLY["body"]["id"], url=REPLY["body"]["url"])

    [upload] = calls_to(rsps, "POST", "/api/v2/media")
    assert form_fields(upload)["description"] == [ALT]
    name, content_type, data = file_parts(upload)["file"]
    assert data == PNG and content_type == "image/png" and name == "human.png"
    assert len(calls_to(rsps, "GET", f"/api/v1/media/{MEDIA_ID}")) == 1  # polled until a url
    assert sleeps == [1.0]  # one pause between the 202 and the poll that has the url

    [status] = calls_to(rsps, "POST", "/api/v1/statuses")
    fields = form_fields(status)
    assert fields["in_reply_to_id"] == [mention.id]
    assert fields["media_ids[]"] == [MEDIA_ID]
    assert fields["visibility"] == [expected]
    assert fields["status"] == ["@mastodonpy_test_2 here is your human"]
    assert header(status, "Idempotency-Key") == reply_key(mention.id)
    assert header(status, "Authorization") == "Bearer tok"
    order = [urlsplit(c.request.url).path for c in rsps.calls]
    assert order.index("/api/v2/media") < order.index(f"/api/v1/media/{MEDIA_ID}") \
        < order.index("/api/v1/statuses")


def test_a_gif_is_uploaded_as_a_gif_and_waited_for(rsps: responses.RequestsMock,
                                                   sleeps: list[float]) -> None:
    """Mastodon turns a GIF into a gifv asynchronously: 202 without a url, looked at until it
    has one (at growing intervals), then one status with it."""
    p = MastodonPlatform(settings())
    add(rsps, "GET", f"{BASE}/api/v1/instance/", MEDIA_200, body=INSTANCE_V1)
    add(rsps, "GET", f"{BASE}/api/v2/instance/", MEDIA_200, body=INSTANCE_V2)
    add(rsps, "POST", f"{BASE}/api/v2/media", MEDIA_202,
        body={**MEDIA_202["body"], "type": "gifv"})
    for url in (None, None, MEDIA_200["body"]["url"]):
        add(rsps, "GET", f"{BASE}/api/v1/media/{MEDIA_ID}", MEDIA_200,
            status=206 if url is None else 200,
            body={**MEDIA_200["body"], "type": "gifv", "url": url})
    add(rsps, "POST", f"{BASE}/api/v1/statuses", REPLY)
    gif = b"GIF89a" + bytes(range(64))
    reply_through(p, a_mention(), "hi", [Media(gif, "image/gif", "A person waving.")], sleeps)
    [upload] = calls_to(rsps, "POST", "/api/v2/media")
    name, content_type, data = file_parts(upload)["file"]
    assert (name, content_type, data) == ("human.gif", "image/gif", gif)
    assert form_fields(upload)["description"] == ["A person waving."]
    assert len(calls_to(rsps, "GET", f"/api/v1/media/{MEDIA_ID}")) == 3
    assert sleeps == [1.0, 2.0, 4.0]  # doubling: a busy server is not asked every second
    [status] = calls_to(rsps, "POST", "/api/v1/statuses")
    assert form_fields(status)["media_ids[]"] == [MEDIA_ID]


def test_four_pictures_are_four_uploads_and_one_status(rsps: responses.RequestsMock,
                                                       sleeps: list[float]) -> None:
    p = MastodonPlatform(settings())
    add(rsps, "GET", f"{BASE}/api/v1/instance/", MEDIA_200, body=INSTANCE_V1)
    add(rsps, "GET", f"{BASE}/api/v2/instance/", MEDIA_200, body=INSTANCE_V2)
    ids = [str(int(MEDIA_ID) + i) for i in range(4)]
    for media_id in ids:  # answered in order, each already processed
        add(rsps, "POST", f"{BASE}/api/v2/media", MEDIA_200,
            body={**MEDIA_200["body"], "id": media_id})
    add(rsps, "POST", f"{BASE}/api/v1/statuses", REPLY)
    pictures = [Media(PNG + bytes([i]), "image/png", f"Person {i}.") for i in range(4)]
    p.post("Four humans.", pictures, key="daily-2026-08-02")
    uploads = calls_to(rsps, "POST", "/api/v2/media")
    assert [form_fields(u)["description"] for u in uploads] == [[m.alt_text] for m in pictures]
    assert [file_parts(u)["file"] for u in uploads] == [
        ("human.png", "image/png", m.data) for m in pictures]
    assert not calls_to(rsps, "GET", f"/api/v1/media/{ids[0]}")  # nothing to look at again
    [status] = calls_to(rsps, "POST", "/api/v1/statuses")
    assert form_fields(status)["media_ids[]"] == ids
    assert header(status, "Idempotency-Key") == "human-image-bot-daily-2026-08-02"


def test_a_post_whose_media_is_still_processed_is_transient_never_a_wait(
        rsps: responses.RequestsMock) -> None:
    """The daily post asks once more and says so: the service tries the post again later
    (with the same Idempotency-Key), nothing here waits."""
    p = MastodonPlatform(settings())
    add(rsps, "GET", f"{BASE}/api/v1/instance/", MEDIA_200, body=INSTANCE_V1)
    add(rsps, "GET", f"{BASE}/api/v2/instance/", MEDIA_200, body=INSTANCE_V2)
    add(rsps, "POST", f"{BASE}/api/v2/media", MEDIA_202)
    add(rsps, "GET", f"{BASE}/api/v1/media/{MEDIA_ID}", MEDIA_200, status=206,
        body={**MEDIA_200["body"], "url": None})
    with pytest.raises(Transient, match="still being processed"):
        p.post("Today's human.", PICTURE, key="daily-2026-08-02")
    assert len(calls_to(rsps, "GET", f"/api/v1/media/{MEDIA_ID}")) == 1
    assert not calls_to(rsps, "POST", "/api/v1/statuses")


GIF = Media(b"GIF89a", "image/gif", "A person waving.")


@pytest.mark.parametrize("media", [
    [], PICTURE * 5, [GIF, GIF], [*PICTURE, GIF]], ids=["none", "five", "two-gifs", "mixed"])
def test_what_mastodon_cannot_attach_is_refused_before_any_upload(
        rsps: responses.RequestsMock, platform: MastodonPlatform, media: list[Media]) -> None:
    with pytest.raises(ValueError):
        platform.upload(media)
    with pytest.raises(ValueError):
        platform.post("hi", media)
    assert len(rsps.calls) == 0  # nothing uploaded, nothing posted


# ---------------------------------------------------------------- delete


def test_delete_deletes_the_status(rsps: responses.RequestsMock,
                                   platform: MastodonPlatform) -> None:
    status_id = REPLY["body"]["id"]
    add(rsps, "DELETE", f"{BASE}/api/v1/statuses/{status_id}", DELETED)
    platform.delete(status_id)
    [call] = rsps.calls
    assert call.request.method == "DELETE"
    assert header(call.request, "Authorization") == "Bearer tok"


def test_deleting_a_status_that_is_gone_is_no_error(rsps: responses.RequestsMock,
                                                    platform: MastodonPlatform) -> None:
    add(rsps, "DELETE", f"{BASE}/api/v1/statuses/1", DELETED, status=404,
        body={"error": "Record not found"})
    platform.delete("1")


@pytest.mark.parametrize(("status", "body", "error"), [
    (503, "<html>503 Service Unavailable</html>", Transient),
    (403, SCOPE_403, AuthFailed),  # the token lacks write:statuses
    (403, {"error": "This action is not allowed"}, Rejected),  # not the bot's status
])
def test_a_delete_that_fails_says_how(rsps: responses.RequestsMock, platform: MastodonPlatform,
                                      status: int, body: Any, error: type) -> None:
    add(rsps, "DELETE", f"{BASE}/api/v1/statuses/1", DELETED, status=status, body=body)
    with pytest.raises(error) as info:
        platform.delete("1")
    if error is AuthFailed:
        assert "write:statuses" in str(info.value)


def test_reply_key_is_stable_per_mention() -> None:
    assert reply_key("109") == reply_key("109") != reply_key("110")


def test_send_note_has_no_media(rsps: responses.RequestsMock,
                                platform: MastodonPlatform) -> None:
    add(rsps, "POST", f"{BASE}/api/v1/statuses", REPLY)
    platform.send_note(a_mention(visibility="direct"), "Please wait a while.")
    fields = form_fields(rsps.calls[0].request)
    assert "media_ids[]" not in fields and fields["visibility"] == ["direct"]
    assert header(rsps.calls[0].request, "Idempotency-Key")


def test_post_uses_the_bot_visibility_and_key(rsps: responses.RequestsMock,
                                              sleeps: list[float]) -> None:
    p = MastodonPlatform(settings(visibility="unlisted"))
    register_upload(rsps)
    add(rsps, "POST", f"{BASE}/api/v1/statuses", REPLY)
    p.post("Today's human.", PICTURE, key="daily-2026-08-01")
    [status] = calls_to(rsps, "POST", "/api/v1/statuses")
    fields = form_fields(status)
    assert fields["visibility"] == ["unlisted"] and "in_reply_to_id" not in fields
    assert header(status, "Idempotency-Key") == "human-image-bot-daily-2026-08-01"


# ---------------------------------------------------------------- errors


def test_429_on_notifications_is_rate_limited_until_the_reset(
        rsps: responses.RequestsMock, platform: MastodonPlatform) -> None:
    reset, at = future_reset()
    add(rsps, "GET", NOTIFICATIONS, NOTES, status=429, body={"error": "Too many requests"},
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset, "link": ""})
    with pytest.raises(RateLimited) as info:
        platform.fetch_mentions("20", None)
    assert info.value.reset_at is not None
    assert abs((info.value.reset_at - at).total_seconds()) < 2


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_transient(rsps: responses.RequestsMock,
                                     platform: MastodonPlatform, status: int) -> None:
    add(rsps, "GET", NOTIFICATIONS, NOTES, status=status, body="<html>error</html>",
        headers={"link": ""})
    with pytest.raises(Transient):
        platform.fetch_mentions("20", None)


def test_401_on_notifications_is_auth_failed(rsps: responses.RequestsMock,
                                             platform: MastodonPlatform) -> None:
    add(rsps, "GET", NOTIFICATIONS, NOTES, status=401,
        body={"error": "The access token is invalid"}, headers={"link": ""})
    with pytest.raises(AuthFailed):
        platform.fetch_mentions("20", None)


def test_403_on_notifications_is_auth_failed(rsps: responses.RequestsMock,
                                             platform: MastodonPlatform) -> None:
    add(rsps, "GET", NOTIFICATIONS, NOTES, status=403,
        body=SCOPE_403, headers={"link": ""})
    with pytest.raises(AuthFailed, match="lacks the read:notifications scope"):
        platform.fetch_mentions("20", None)


def test_network_error_is_transient(rsps: responses.RequestsMock,
                                    platform: MastodonPlatform) -> None:
    rsps.add("GET", NOTIFICATIONS, body=requests.ConnectionError("connection refused"))
    with pytest.raises(Transient):
        platform.fetch_mentions("20", None)


def test_non_json_answer_is_a_platform_error(rsps: responses.RequestsMock,
                                             platform: MastodonPlatform) -> None:
    add(rsps, "GET", NOTIFICATIONS, NOTES, body="<html>maintenance</html>",
        headers={"link": ""})
    with pytest.raises(PlatformError) as info:
        platform.fetch_mentions("20", None)
    assert isinstance(info.value, Transient)  # the adapter's "malformed answer" branch


def test_422_on_the_reply_is_rejected(rsps: responses.RequestsMock,
                                      platform: MastodonPlatform) -> None:
    add(rsps, "POST", f"{BASE}/api/v1/statuses", REPLY, status=422,
        body={"error": "Validation failed: Text can't be blank"})
    with pytest.raises(Rejected):
        platform.send_note(a_mention(), "x")


def test_429_on_the_media_upload_is_rate_limited(rsps: responses.RequestsMock,
                                                 sleeps: list[float]) -> None:
    p = MastodonPlatform(settings())
    reset, _ = future_reset(900)
    add(rsps, "GET", f"{BASE}/api/v1/instance/", MEDIA_200, body=INSTANCE_V1)
    add(rsps, "GET", f"{BASE}/api/v2/instance/", MEDIA_200, body=INSTANCE_V2)
    add(rsps, "POST", f"{BASE}/api/v2/media", MEDIA_202, status=429,
        body={"error": "Too many requests"},
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset})
    with pytest.raises(RateLimited) as info:
        p.upload(PICTURE)
    assert info.value.reset_at is not None
    assert not calls_to(rsps, "POST", "/api/v1/statuses")


def test_5xx_while_the_media_is_processed_is_transient(rsps: responses.RequestsMock,
                                                       sleeps: list[float]) -> None:
    p = MastodonPlatform(settings())
    add(rsps, "GET", f"{BASE}/api/v1/instance/", MEDIA_200, body=INSTANCE_V1)
    add(rsps, "GET", f"{BASE}/api/v2/instance/", MEDIA_200, body=INSTANCE_V2)
    add(rsps, "POST", f"{BASE}/api/v2/media", MEDIA_202)
    add(rsps, "GET", f"{BASE}/api/v1/media/{MEDIA_ID}", MEDIA_200, status=503,
        body="<html>503 Service Unavailable</html>")
    with pytest.raises(Transient):
        reply_through(p, a_mention(), "hi", PICTURE)


@pytest.mark.parametrize("send", ["reply", "note", "post"])
def test_403_scope_on_posting_is_auth_failed_naming_write_statuses(
        rsps: responses.RequestsMock, platform: MastodonPlatform, sleeps: list[float],
        send: str) -> None:
    """A token without write:statuses: every post would meet the same 403, so it stops the
    bot (the service turns AuthFailed into a fatal stop) instead of failing each mention."""
    if send != "note":
        register_upload(rsps)
    add(rsps, "POST", f"{BASE}/api/v1/statuses", REPLY, status=403, body=SCOPE_403)
    with pytest.raises(AuthFailed) as info:
        if send == "reply":
            reply_through(platform, a_mention(), "hi", PICTURE)
        elif send == "note":
            platform.send_note(a_mention(), "hi")
        else:
            platform.post("hi", PICTURE, key="daily")
    text = str(info.value)
    assert "the token lacks the write:statuses scope" in text and TOKEN_SCOPES in text
    assert "\n" not in text


def test_403_scope_on_the_media_upload_names_write_media(
        rsps: responses.RequestsMock, platform: MastodonPlatform) -> None:
    add(rsps, "GET", f"{BASE}/api/v1/instance/", MEDIA_200, body=INSTANCE_V1)
    add(rsps, "GET", f"{BASE}/api/v2/instance/", MEDIA_200, body=INSTANCE_V2)
    add(rsps, "POST", f"{BASE}/api/v2/media", MEDIA_202, status=403, body=SCOPE_403)
    with pytest.raises(AuthFailed, match="lacks the write:media scope") as info:
        platform.upload(PICTURE)
    assert TOKEN_SCOPES in str(info.value)
    assert not calls_to(rsps, "POST", "/api/v1/statuses")


def test_a_403_about_one_status_is_rejected_not_fatal(
        rsps: responses.RequestsMock, platform: MastodonPlatform) -> None:
    """A 403 that is not about the token's scopes concerns this one status (e.g. one the bot
    may not interact with): that mention fails, the bot goes on."""
    add(rsps, "POST", f"{BASE}/api/v1/statuses", REPLY, status=403,
        body={"error": "This action is not allowed"})
    with pytest.raises(Rejected):
        platform.send_note(a_mention(), "hi")


def test_a_disabled_login_on_posting_is_auth_failed(
        rsps: responses.RequestsMock, platform: MastodonPlatform) -> None:
    """Mastodon's account-wide 403s ("Your login is currently disabled", "... pending
    approval", "... missing a confirmed e-mail address") stop the bot too."""
    add(rsps, "POST", f"{BASE}/api/v1/statuses", REPLY, status=403,
        body={"error": "Your login is currently disabled"})
    with pytest.raises(AuthFailed, match="login is currently disabled"):
        platform.send_note(a_mention(), "hi")


# ---------------------------------------------------------------- find_reply


def context(descendants: list[dict[str, Any]]) -> dict[str, Any]:
    """GET /api/v1/statuses/:id/context in the recorded status shape."""
    return {"ancestors": [], "descendants": descendants}


def someone_elses_reply(in_reply_to: str) -> dict[str, Any]:
    status = copy.deepcopy(PARENT["body"])
    status.update(id="117020583258299999", in_reply_to_id=in_reply_to)
    return status


def test_find_reply_finds_the_bot_reply(rsps: responses.RequestsMock,
                                        platform: MastodonPlatform) -> None:
    mention = a_mention()
    assert REPLY["body"]["in_reply_to_id"] == mention.id
    assert REPLY["body"]["account"]["id"] == ME_ID
    add(rsps, "GET", f"{BASE}/api/v1/statuses/{mention.id}/context", REPLY,
        body=context([someone_elses_reply(mention.id), REPLY["body"]]))
    assert platform.find_reply(mention) == Posted(id=REPLY["body"]["id"],
                                                  url=REPLY["body"]["url"])


def test_find_reply_ignores_other_replies(rsps: responses.RequestsMock,
                                          platform: MastodonPlatform) -> None:
    mention = a_mention()
    deeper = {**copy.deepcopy(REPLY["body"]), "in_reply_to_id": "117020583258299999"}
    add(rsps, "GET", f"{BASE}/api/v1/statuses/{mention.id}/context", REPLY,
        body=context([someone_elses_reply(mention.id), deeper]))
    assert platform.find_reply(mention) is None


def test_find_reply_on_a_deleted_status_is_rejected(rsps: responses.RequestsMock,
                                                    platform: MastodonPlatform) -> None:
    mention = a_mention()
    add(rsps, "GET", f"{BASE}/api/v1/statuses/{mention.id}/context", REPLY, status=404,
        body={"error": "Record not found"})
    with pytest.raises(Rejected):
        platform.find_reply(mention)


def test_recordings_are_what_the_tests_assume() -> None:
    """Guards the templates: one mention notification; a 202 upload without a url."""
    gets = [i for i in load("mastodon-api/notifications_mentions_only.json")
            if i["request"]["uri"].endswith("/api/v1/notifications?types%5B%5D=mention")]
    assert len(gets) == 1 and [n["type"] for n in gets[0]["response"]["body"]] == ["mention"]
    assert MEDIA_202["status"] == 202 and MEDIA_202["body"]["url"] is None
    assert MEDIA_200["body"]["url"]
