"""The Mastodon adapter's pictures, deletes and reactions against mastodon-mock, a real Mastodon
API server on loopback: what the adapter posts, deletes and reads is checked by reading the
server back through the API as another user.

Each test resets the server (Mastodon 4.3's default notification policy on the bot's account).
mastodon-mock processes an upload at once (200 with a url); the 202-then-poll path is covered
with recorded answers in test_platform_mastodon.py.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
import requests
from PIL import Image
from pydantic import SecretStr

pytest.importorskip("mastodon_mock")
from mastodon.errors import MastodonNotFoundError
from mastodon_mock.config import SeedAccount, SeedConfig

from bot.platforms.base import Media, Mention, Reaction
from bot.platforms.errors import Rejected
from bot.platforms.mastodon import MastodonPlatform
from bot.settings import MastodonSettings
from tests.helpers import client, fault, reply_through

SEED = SeedConfig(accounts=[
    SeedAccount(username="bot", access_token="bot_token"),
    SeedAccount(username="alice", access_token="alice_token"),
    SeedAccount(username="bob", access_token="bob_token"),
])


@pytest.fixture
def waits() -> list[float]:
    return []


@pytest.fixture
def bot(srv) -> Iterator[MastodonPlatform]:
    """The adapter as the bot, started (not flagging the account: nothing here needs it)."""
    settings = MastodonSettings(base_url=srv.base_url, access_token=SecretStr("bot_token"),
                                visibility="public", flag_bot=False)
    platform = MastodonPlatform(settings)
    platform.start()
    yield platform
    platform.stop()


def png(colour: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buf, format="PNG")
    return buf.getvalue()


def gif() -> bytes:
    frames = [Image.new("P", (8, 8), i) for i in range(3)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=100,
                   loop=0)
    return buf.getvalue()


def stored(url: str) -> bytes:
    """The bytes the server serves at a media url."""
    answer = requests.get(url, timeout=10)
    answer.raise_for_status()
    return answer.content


def the_mention(bot: MastodonPlatform, status_id: str) -> Mention:
    [m] = [m for m in bot.fetch_mentions(None, None) if m.id == str(status_id)]
    return m


def bot_picture(bot: MastodonPlatform) -> str:
    """A status of the bot's own, with one picture; its id."""
    return bot.post("Today's human.", [Media(png("red"), "image/png", "A person.")]).id


# ---------------------------------------------------------------- pictures


def test_a_reply_with_four_pictures_has_four_described_attachments(
        srv, bot: MastodonPlatform, waits: list[float]) -> None:
    request = client(srv, "alice").status_post("@bot create four human images")
    pictures = [Media(png(c), "image/png", f"A person in a {c} shirt.")
                for c in ("red", "green", "blue", "yellow")]
    posted = reply_through(bot, the_mention(bot, request["id"]), "@alice here are your humans",
                           pictures, waits)

    status = client(srv, "alice").status(posted.id)  # read back as somebody else
    assert str(status["in_reply_to_id"]) == str(request["id"])
    assert status["account"]["acct"] == "bot"
    attachments = status["media_attachments"]
    assert [a["description"] for a in attachments] == [m.alt_text for m in pictures]
    assert [a["type"] for a in attachments] == ["image"] * 4
    assert len({str(a["id"]) for a in attachments}) == 4
    assert [stored(a["url"]) for a in attachments] == [m.data for m in pictures]
    assert waits == []  # processed at once: no polling pause


def test_a_gif_reply_is_one_gifv_attachment(srv, bot: MastodonPlatform) -> None:
    request = client(srv, "alice").status_post("@bot create a moving human")
    animation = Media(gif(), "image/gif", "A person waving, three frames.")
    posted = reply_through(bot, the_mention(bot, request["id"]), "@alice here is your human",
                           [animation])

    [attachment] = client(srv, "alice").status(posted.id)["media_attachments"]
    assert attachment["type"] == "gifv"  # what Mastodon makes of an image/gif upload
    assert attachment["description"] == animation.alt_text
    assert attachment["url"].endswith(".gif")  # stored under the name human.gif gave it
    assert stored(attachment["url"]) == animation.data


def test_five_pictures_upload_nothing(srv, bot: MastodonPlatform) -> None:
    request = client(srv, "alice").status_post("@bot create many human images")
    mention = the_mention(bot, request["id"])
    with pytest.raises(ValueError):
        reply_through(bot, mention, "@alice too many", [Media(png("red"), "image/png", "x")] * 5)
    assert client(srv, "alice").status_context(request["id"])["descendants"] == []


# ---------------------------------------------------------------- delete


def test_delete_removes_the_status_and_a_second_delete_is_no_error(
        srv, bot: MastodonPlatform) -> None:
    status_id = bot_picture(bot)
    assert str(client(srv, "alice").status(status_id)["id"]) == status_id
    bot.delete(status_id)
    with pytest.raises(MastodonNotFoundError):
        client(srv, "alice").status(status_id)
    bot.delete(status_id)  # gone already: done


def test_deleting_somebody_elses_status_is_refused_and_leaves_it(
        srv, bot: MastodonPlatform) -> None:
    theirs = client(srv, "alice").status_post("my own words")
    with pytest.raises(Rejected):
        bot.delete(str(theirs["id"]))
    assert client(srv, "alice").status(theirs["id"])["content"]


# ---------------------------------------------------------------- reactions


def test_a_favourite_and_a_boost_of_a_bot_status_are_handed_over_once(
        srv, bot: MastodonPlatform) -> None:
    status_id = bot_picture(bot)
    alice, bob = client(srv, "alice"), client(srv, "bob")
    alice.status_favourite(status_id)
    bob.status_reblog(status_id)

    assert bot.fetch_mentions(None, None) == []  # reactions are not mentions
    got = sorted(bot.take_reactions(), key=lambda r: r.kind)
    # the notifications the server holds for the bot, by type
    held = {n["type"]: str(n["id"]) for n in client(srv, "bot").notifications()}
    assert got == [
        Reaction(id=held["favourite"], kind="favourite", post_id=status_id,
                 account_id=str(alice.me()["id"]), cursor=held["favourite"]),
        Reaction(id=held["reblog"], kind="reblog", post_id=status_id,
                 account_id=str(bob.me()["id"]), cursor=held["reblog"]),
    ]
    assert bot.take_reactions() == []  # handed over once
    # read forward from the newest: nothing new, nothing handed over again
    newest = max(held.values(), key=int)
    assert bot.fetch_mentions(newest, None) == []
    assert bot.take_reactions() == []


def test_a_favourite_of_somebody_elses_status_is_no_reaction(
        srv, bot: MastodonPlatform) -> None:
    """The server tells the bot only about its own statuses; the adapter checks anyway. Here
    the bot is served, besides its own favourite notification, bob's (alice favourited bob's
    status that mentions the bot), both exactly as the server serialises them."""
    alice = client(srv, "alice")
    theirs = client(srv, "bob").status_post("@bot look at my picture")
    alice.status_favourite(theirs["id"])
    mine = bot_picture(bot)
    alice.status_favourite(mine)

    # what the real server hands over: one mention (bob's status), one favourite (the bot's)
    assert [m.id for m in bot.fetch_mentions(None, None)] == [str(theirs["id"])]
    [own] = bot.take_reactions()
    assert (own.kind, own.post_id) == ("favourite", mine)

    def raw(token: str) -> list[dict]:
        answer = requests.get(f"{srv.base_url}/api/v1/notifications",
                              params={"types[]": ["favourite"]},
                              headers={"Authorization": f"Bearer {token}"}, timeout=10)
        answer.raise_for_status()
        return answer.json()

    [bobs] = raw("bob_token")
    [bots] = raw("bot_token")
    assert str(bobs["status"]["id"]) == str(theirs["id"]) != mine
    served = sorted([bobs, bots], key=lambda n: int(n["id"]), reverse=True)
    fault(srv, match={"methods": ["GET"], "path": "/api/v1/notifications"},
          effect={"type": "status", "status": 200, "body": served}, count=1)
    assert bot.fetch_mentions("0", None) == []
    assert [(r.id, r.post_id) for r in bot.take_reactions()] == [(str(bots["id"]), mine)]


# ---------------------------------------------------------------- mentions


def test_a_mention_answering_a_bot_status_carries_its_id(srv, bot: MastodonPlatform) -> None:
    status_id = bot_picture(bot)
    alice = client(srv, "alice")
    answer = alice.status_post("@bot another one please", in_reply_to_id=status_id)
    fresh = alice.status_post("@bot create a human image")
    got = {m.id: m.in_reply_to_id for m in bot.fetch_mentions(None, None)}
    assert got == {str(answer["id"]): status_id, str(fresh["id"]): ""}
