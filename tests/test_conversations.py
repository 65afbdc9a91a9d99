"""Conversations against mastodon-mock: again, more like this, like #N, morph, delete, help,
the favourites garden and the daily post's choice.

Each test resets the server (with Mastodon 4.3's notification policy on the bot) and runs the
real service on a tiny real generator with three good seeds. People talk to the bot through
their own Mastodon.py clients; what the bot did is read back from the server and the state file.
"""

from __future__ import annotations

import html
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
import torch
from PIL import Image

pytest.importorskip("mastodon_mock")
from mastodon_mock.config import SeedAccount, SeedConfig

from bot.service import Service
from model.serve.seeds import Seed, SeedBook, save_seeds
from tests.helpers import TINY, FakeClock, client, mastodon_service, replies_to

SEED = SeedConfig(accounts=[
    SeedAccount(username="bot", access_token="bot_token"),
    SeedAccount(username="alice", access_token="alice_token"),
    SeedAccount(username="bob", access_token="bob_token"),
    SeedAccount(username="carol", access_token="carol_token"),
])
SEEDS = (7, 8, 9)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def write_seeds(weights: Path, ids) -> None:  # type: ignore[no-untyped-def]
    gen = torch.Generator().manual_seed(5)
    save_seeds(weights / "seeds.json", SeedBook(TINY.z_dim, [
        Seed(i, torch.randn(TINY.z_dim, generator=gen).tolist(), f"seed {i}") for i in ids]))


@pytest.fixture
def weights(tmp_path: Path, tiny_weights: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The tiny generator with three good seeds, in a fresh working directory."""
    monkeypatch.chdir(tmp_path)
    write_seeds(tiny_weights, SEEDS)
    return tiny_weights


@pytest.fixture
def bot(srv, tmp_path: Path, weights: Path, clock: FakeClock) -> Service:
    service = mastodon_service(srv, weights, tmp_path / "state.db", clock,
                               user_limit_per_hour=20)
    yield service
    service.state.close()


def ask(srv, user: str, text: str, in_reply_to=None) -> dict:
    return client(srv, user).status_post(text, in_reply_to_id=in_reply_to)


def only_reply(srv, status: dict) -> dict:
    [reply] = replies_to(srv, status["id"])
    return reply


def plain(status: dict) -> str:
    """A status's text as people read it (Mastodon sends HTML, links around #tags)."""
    return html.unescape(re.sub(r"<[^>]+>", "", status["content"]))


def first_picture(srv, bot: Service, user: str = "alice") -> dict:
    """A first picture for `user`, as the bot sent it."""
    mention = ask(srv, user, "@bot create a human image")
    bot.cycle()
    return only_reply(srv, mention)


def media_bytes(attachment: dict) -> bytes:
    answer = requests.get(attachment["url"], timeout=10)
    answer.raise_for_status()
    return answer.content


def distance(a: list[float], b: list[float]) -> float:
    return float(torch.tensor(a).sub(torch.tensor(b)).norm())


# ---------------------------------------------------------------- the commands


def test_every_picture_is_remembered_with_its_latent(srv, bot: Service) -> None:
    reply = first_picture(srv, bot)
    [picture] = bot.state.pictures_of("mastodon", reply["id"])
    assert picture.kind == "picture" and picture.seed_id in SEEDS and picture.sigma == 0.5
    assert len(picture.z) == TINY.z_dim and picture.parent_post_id is None
    assert picture.for_author_id == str(client(srv, "alice").me()["id"])
    # the reply says what works as a reply to it
    assert all(word in reply["content"] for word in ("again", "more like this", "morph"))


def test_again_draws_a_new_picture_near_the_same_seed(srv, bot: Service) -> None:
    first = first_picture(srv, bot)
    [before] = bot.state.pictures_of("mastodon", first["id"])
    again = ask(srv, "alice", "@bot again please", in_reply_to=first["id"])
    bot.cycle()
    second = only_reply(srv, again)
    assert len(second["media_attachments"]) == 1
    [after] = bot.state.pictures_of("mastodon", second["id"])
    assert after.seed_id == before.seed_id and after.parent_post_id == first["id"]
    assert after.z != before.z  # a new picture, not the same one


def test_more_like_this_sends_four_pictures_near_that_one(srv, bot: Service) -> None:
    first = first_picture(srv, bot)
    [parent] = bot.state.pictures_of("mastodon", first["id"])
    uploads = len(bot.state.uploads_since("mastodon", 0))
    request = ask(srv, "alice", "@bot more like this", in_reply_to=first["id"])
    bot.cycle()
    reply = only_reply(srv, request)
    media = reply["media_attachments"]
    assert len(media) == 4 and len({m["description"] for m in media}) == 4
    assert all(m["description"].startswith(f"Variation {i + 1} of 4")
               for i, m in enumerate(media))
    pictures = bot.state.pictures_of("mastodon", reply["id"])
    assert [p.idx for p in pictures] == [0, 1, 2, 3]
    assert {p.kind for p in pictures} == {"variation"}
    assert {p.parent_post_id for p in pictures} == {first["id"]}
    # near that picture: closer to it than to any good seed it was not drawn from
    seeds = {s.id: s.z for s in bot.artist.seeds.seeds}
    for p in pictures:
        assert p.sigma == bot.settings.variation_sigma
        near = distance(p.z, parent.z)
        assert all(near < distance(p.z, z) for i, z in seeds.items() if i != parent.seed_id)
    # four pictures count four times: against the media pacing and the person's hourly limit
    assert len(bot.state.uploads_since("mastodon", 0)) == uploads + 4
    alice = str(client(srv, "alice").me()["id"])
    assert bot.state.replies_since("mastodon", alice, 0) == 5


def test_a_number_picks_one_of_four(srv, bot: Service) -> None:
    first = first_picture(srv, bot)
    request = ask(srv, "alice", "@bot more like this", in_reply_to=first["id"])
    bot.cycle()
    four = only_reply(srv, request)
    third = bot.state.pictures_of("mastodon", four["id"])[2]
    again = ask(srv, "alice", "@bot more like this 3", in_reply_to=four["id"])
    bot.cycle()
    pictures = bot.state.pictures_of("mastodon", only_reply(srv, again)["id"])
    others = [o for o in bot.state.pictures_of("mastodon", four["id"]) if o.idx != 2]
    # the four new ones are centred on the third (their mean is within noise / 2 of it)
    centre = torch.tensor([p.z for p in pictures]).mean(0).tolist()
    assert all(distance(centre, third.z) < distance(centre, o.z) for o in others)
    assert {p.parent_post_id for p in pictures} == {four["id"]}


def test_like_a_seed_number_works_in_a_new_mention(srv, bot: Service) -> None:
    mention = ask(srv, "bob", "@bot like #8")
    bot.cycle()
    reply = only_reply(srv, mention)
    [picture] = bot.state.pictures_of("mastodon", reply["id"])
    assert picture.seed_id == 8 and "seed #8" in reply["content"]


def test_an_unknown_seed_gets_one_polite_note_naming_known_ones(srv, bot: Service) -> None:
    mention = ask(srv, "bob", "@bot ＃９９９みたいに")  # full-width: NFKC makes it #999
    bot.cycle()
    note = only_reply(srv, mention)
    assert note["media_attachments"] == []
    assert "#999" in note["content"] and "#7" in note["content"]
    assert bot.state.get("mastodon", mention["id"]).status == "refused"


def test_morph_sends_a_gif_of_at_most_two_seconds(srv, bot: Service) -> None:
    first = first_picture(srv, bot)
    [start] = bot.state.pictures_of("mastodon", first["id"])
    request = ask(srv, "alice", "@bot morph", in_reply_to=first["id"])
    bot.cycle()
    reply = only_reply(srv, request)
    [attachment] = reply["media_attachments"]
    assert attachment["type"] == "gifv"  # Mastodon shows a GIF as a looping video
    gif = Image.open(io.BytesIO(media_bytes(attachment)))
    durations = []
    for frame in range(gif.n_frames):
        gif.seek(frame)
        durations.append(gif.info["duration"])
    assert gif.n_frames > 8 and sum(durations) <= 2000
    [morph] = bot.state.pictures_of("mastodon", reply["id"])
    assert morph.kind == "morph" and morph.z == start.z
    assert morph.morph_to in SEEDS and morph.morph_to != start.seed_id
    assert f"seed #{morph.morph_to}" in reply["content"]


def test_delete_by_the_person_it_was_made_for(srv, bot: Service) -> None:
    first = first_picture(srv, bot)
    request = ask(srv, "alice", "@bot delete", in_reply_to=first["id"])
    bot.cycle()
    gone = requests.get(f"{srv.base_url}/api/v1/statuses/{first['id']}", timeout=10)
    assert gone.status_code == 404
    assert replies_to(srv, request["id"]) == []  # nothing is posted in answer
    [picture] = bot.state.pictures_of("mastodon", first["id"])
    assert picture.deleted_at is not None
    # a command in a reply to her own post is an ordinary mention: "again" alone asks nothing
    late = ask(srv, "alice", "@bot again", in_reply_to=request["id"])
    bot.cycle()
    assert replies_to(srv, late["id"]) == []


def test_delete_by_anyone_else_is_ignored(srv, bot: Service) -> None:
    first = first_picture(srv, bot)
    request = ask(srv, "bob", "@bot delete", in_reply_to=first["id"])
    bot.cycle()
    still = requests.get(f"{srv.base_url}/api/v1/statuses/{first['id']}", timeout=10)
    assert still.status_code == 200
    assert replies_to(srv, request["id"]) == []
    record = bot.state.get("mastodon", request["id"])
    assert record.status == "ignored" and "not made for" in record.reason


def test_a_command_replying_to_someone_elses_post_is_an_ordinary_mention(
        srv, bot: Service) -> None:
    post = ask(srv, "carol", "my own post")
    plain = ask(srv, "bob", "@bot again", in_reply_to=post["id"])
    bot.cycle()
    assert replies_to(srv, plain["id"]) == []
    assert bot.state.get("mastodon", plain["id"]).reason == "no trigger phrase"
    both = ask(srv, "bob", "@bot more like this: create a human image", in_reply_to=post["id"])
    bot.cycle()
    reply = only_reply(srv, both)
    [picture] = bot.state.pictures_of("mastodon", reply["id"])
    assert picture.kind == "picture" and picture.parent_post_id is None
    assert len(reply["media_attachments"]) == 1


def test_help_at_most_once_a_day_per_person(srv, bot: Service, clock: FakeClock) -> None:
    first = first_picture(srv, bot)
    request = ask(srv, "alice", "@bot help", in_reply_to=first["id"])
    bot.cycle()
    help_note = only_reply(srv, request)
    assert help_note["media_attachments"] == []
    assert all(word in help_note["content"]
               for word in ("again", "more like this", "morph", "delete", "like #12"))
    twice = ask(srv, "alice", "@bot ヘルプ", in_reply_to=first["id"])
    bot.cycle()
    assert replies_to(srv, twice["id"]) == []
    clock.offset += 86400 + 60
    tomorrow = ask(srv, "alice", "@bot help", in_reply_to=first["id"])
    bot.cycle()
    assert len(replies_to(srv, tomorrow["id"])) == 1


def test_help_in_a_new_mention_too(srv, bot: Service) -> None:
    mention = ask(srv, "bob", "@bot help")  # not a reply to any picture
    bot.cycle()
    help_note = plain(only_reply(srv, mention))
    assert all(phrase in help_note for phrase in
               ('"again"', '"more like this"', '"morph"', '"delete"', '"like #12"'))
    twice = ask(srv, "bob", "@bot help")
    bot.cycle()
    assert replies_to(srv, twice["id"]) == []  # the same once-a-day rule


def test_a_command_to_a_picture_the_bot_no_longer_has_says_it_is_gone(srv, bot: Service
                                                                      ) -> None:
    first = first_picture(srv, bot)
    ask(srv, "alice", "@bot delete", in_reply_to=first["id"])
    late = ask(srv, "alice", "@bot again", in_reply_to=first["id"])  # sent before it went
    bot.cycle()
    note = only_reply(srv, late)
    assert note["media_attachments"] == []
    assert "deleted" in plain(note) and '"create a human image"' in plain(note)
    # a picture from before the state file was reset: the bot's post, but unknown to it
    theirs = first_picture(srv, bot, "bob")
    bot.state.db.execute("DELETE FROM pictures")
    more = ask(srv, "bob", "@bot more like this", in_reply_to=theirs["id"])
    bot.cycle()
    assert '"create a human image"' in plain(only_reply(srv, more))
    # said once: the next such command within the hour is a note too many
    morph = ask(srv, "bob", "@bot morph", in_reply_to=theirs["id"])
    bot.cycle()
    assert replies_to(srv, morph["id"]) == []


def test_a_number_the_post_does_not_have_gets_the_numbers_it_has(srv, bot: Service) -> None:
    first = first_picture(srv, bot)
    request = ask(srv, "alice", "@bot more like this", in_reply_to=first["id"])
    bot.cycle()
    four = only_reply(srv, request)
    wrong = ask(srv, "alice", "@bot more like this 7", in_reply_to=four["id"])
    bot.cycle()
    note = only_reply(srv, wrong)
    assert note["media_attachments"] == [] and bot.state.pictures_of("mastodon",
                                                                     note["id"]) == []
    assert "1 to 4" in plain(note) and '"more like this 2"' in plain(note)


# ---------------------------------------------------------------- notes and limits


def test_notes_are_one_per_person_per_hour_whatever_their_kind(srv, bot: Service,
                                                              clock: FakeClock) -> None:
    picture = first_picture(srv, bot, "bob")
    unknown = [ask(srv, "bob", "@bot like #9999") for _ in range(10)]
    bot.cycle()
    notes = [n for m in unknown for n in replies_to(srv, m["id"])]
    assert len(notes) == 1 and "#9999" in plain(notes[0])
    # a note of another kind (a number the post does not have) within the hour: silence
    wrong = ask(srv, "bob", "@bot morph 3", in_reply_to=picture["id"])
    bot.cycle()
    assert replies_to(srv, wrong["id"]) == []
    assert bot.state.get("mastodon", wrong["id"]).status == "refused"
    carol = ask(srv, "carol", "@bot like #9999")  # others are not affected
    bot.cycle()
    assert len(replies_to(srv, carol["id"])) == 1
    clock.offset += 3601
    later = ask(srv, "bob", "@bot morph 3", in_reply_to=picture["id"])
    bot.cycle()
    assert "one picture" in plain(only_reply(srv, later))


def test_a_note_fits_in_a_status_with_a_hundred_scattered_seeds(
        srv, weights: Path, tmp_path: Path, clock: FakeClock) -> None:
    write_seeds(weights, range(1, 400, 4))  # 100 seeds, no two adjacent
    service = mastodon_service(srv, weights, tmp_path / "state.db", clock)
    try:
        mention = ask(srv, "bob", "@bot like #9999")
        service.cycle()
        note = only_reply(srv, mention)  # a real server refuses a text over 500 characters
        assert "#9999" in plain(note) and "#1" in plain(note)
        assert len(note["content"]) > 0 and len(plain(note)) <= 500
    finally:
        service.state.close()


def test_the_readme_conversation_fits_the_default_limit(
        srv, weights: Path, tmp_path: Path, clock: FakeClock) -> None:
    """The README's conversation twice (a picture, "more like this", "morph 2": 6 pictures
    each), then what the variations reply suggests ("more like this 2", 4 more): every step
    is answered under the default per-person limit; the next picture is one too many."""
    service = mastodon_service(srv, weights, tmp_path / "state.db", clock)

    def say(text: str, to: dict, pictures: int) -> dict:
        mention = ask(srv, "alice", f"@bot {text}", in_reply_to=to["id"])
        service.cycle()
        reply = only_reply(srv, mention)
        assert len(reply["media_attachments"]) == pictures, (text, plain(reply))
        return reply

    try:
        for _ in range(2):
            first = first_picture(srv, service)
            four = say("more like this", first, 4)
            say("morph 2", four, 1)
        assert '"more like this 2"' in plain(four)
        say("more like this 2", four, 4)
        over = say("again", four, 0)
        assert "my limit" in plain(over)
    finally:
        service.state.close()


def test_a_japanese_request_is_answered_in_japanese(srv, bot: Service) -> None:
    mention = ask(srv, "alice", "@bot 人間の画像を作って")
    bot.cycle()
    reply = only_reply(srv, mention)
    assert "人間を描きました" in plain(reply) and "「もう一回」" in plain(reply)
    assert reply["media_attachments"][0]["description"].startswith("GANがシード#")
    more = ask(srv, "alice", "@bot 似たのをお願いします", in_reply_to=reply["id"])
    bot.cycle()
    four = only_reply(srv, more)
    assert "「似たのを2」" in plain(four)
    assert all(m["description"].startswith(f"バリエーション{i + 1}/4")
               for i, m in enumerate(four["media_attachments"]))
    helped = ask(srv, "alice", "@bot ヘルプ", in_reply_to=reply["id"])
    bot.cycle()
    assert "「消して」" in plain(only_reply(srv, helped))
    unknown = ask(srv, "alice", "@bot #999みたいに")
    bot.cycle()
    assert "シード#999はありません" in plain(only_reply(srv, unknown))


# ---------------------------------------------------------------- the garden


def test_favourites_and_boosts_are_counted_once_per_picture(srv, bot: Service) -> None:
    first = first_picture(srv, bot)
    other = first_picture(srv, bot, "bob")
    client(srv, "bob").status_favourite(first["id"])
    client(srv, "carol").status_favourite(first["id"])
    client(srv, "carol").status_reblog(first["id"])
    client(srv, "alice").status_favourite(other["id"])
    bot.cycle()
    bot.cycle()  # read again: nothing counted twice
    [a] = bot.state.pictures_of("mastodon", first["id"])
    [b] = bot.state.pictures_of("mastodon", other["id"])
    assert (a.favourites, a.boosts) == (2, 1) and (b.favourites, b.boosts) == (1, 0)
    assert [p.post_id for p in bot.state.popular("mastodon")] == [first["id"], other["id"]]


def test_the_daily_post_draws_near_yesterdays_favourite(srv, bot: Service,
                                                        clock: FakeClock) -> None:
    liked = first_picture(srv, bot)
    less = first_picture(srv, bot, "bob")
    client(srv, "bob").status_favourite(liked["id"])
    client(srv, "carol").status_favourite(liked["id"])
    client(srv, "carol").status_favourite(less["id"])
    bot.cycle()
    [favourite] = bot.state.pictures_of("mastodon", liked["id"])
    tomorrow = (datetime.fromtimestamp(clock.t, UTC) + timedelta(days=1)).date().isoformat()
    clock.t = datetime.fromisoformat(f"{tomorrow}T09:00:01+00:00").timestamp()
    post_id = bot.daily_post(day=tomorrow)
    status = client(srv, "alice").status(post_id)
    assert "yesterday's favourite" in status["content"] and "2 favourites" in status["content"]
    [daily] = bot.state.pictures_of("mastodon", post_id)
    assert daily.kind == "daily" and daily.parent_post_id == liked["id"]
    # near the favourite itself (noise sigma: about sigma * sqrt(8) away), not merely near a seed
    near = distance(daily.z, favourite.z)
    assert near < 3 * bot.settings.variation_sigma * TINY.z_dim ** 0.5
    assert all(near < distance(daily.z, s.z) for s in bot.artist.seeds.seeds
               if s.id != favourite.seed_id)


def test_the_daily_post_without_favourites_draws_near_a_good_seed(srv, bot: Service,
                                                                  clock: FakeClock) -> None:
    first_picture(srv, bot)  # made yesterday, but nobody liked it
    tomorrow = (datetime.fromtimestamp(clock.t, UTC) + timedelta(days=1)).date().isoformat()
    clock.t = datetime.fromisoformat(f"{tomorrow}T09:00:01+00:00").timestamp()
    post_id = bot.daily_post(day=tomorrow)
    status = client(srv, "alice").status(post_id)
    assert "favourite" not in status["content"] and "seed #" in status["content"]
    [daily] = bot.state.pictures_of("mastodon", post_id)
    assert daily.parent_post_id is None and daily.seed_id in SEEDS
