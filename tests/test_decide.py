"""The pure decision for conversation commands: limits, budgets and who may delete."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from bot.config import load_settings
from bot.decision import Facts, Quota, budget_free_at, decide
from bot.platforms.base import Me, Mention
from bot.state import Picture

NOW = 1_800_000_000.0
ME = Me("1", "bot")
PICTURE = Picture("p1", "picture", [0.0] * 4, 7, 0.5, for_author_id="alice-id")


def mention(text: str, author_id: str = "alice-id", reply_to: str = "p1") -> Mention:
    return Mention(id="m1", author=author_id.removesuffix("-id"), author_id=author_id,
                   author_is_bot=False, author_bio="", text=f"@bot {text}", is_html=False,
                   visibility="public", created_at=datetime.fromtimestamp(NOW, UTC),
                   in_reply_to_id=reply_to)


def facts(**changes) -> Facts:
    base = Facts(me=ME, now=NOW, not_before=None, quota=Quota(0, None, None), uploads=[],
                 media_limit=(30, 1800.0), blocked_until=0.0, notes_use_budget=False,
                 parent=[PICTURE], seed_ids=frozenset({7, 8}), last_help=None)
    return replace(base, **changes)


SETTINGS = load_settings(user_limit_per_hour=8)


def test_four_pictures_need_four_places_in_the_limit() -> None:
    fits = decide(mention("more like this"), facts(quota=Quota(4, NOW - 600, None)), SETTINGS)
    assert fits.action == "reply" and fits.request.command == "variations"
    over = decide(mention("more like this"), facts(quota=Quota(5, NOW - 600, None)), SETTINGS)
    assert over.action == "note" and "4 more pictures" in over.text
    one = decide(mention("again"), facts(quota=Quota(7, NOW - 600, None)), SETTINGS)
    assert one.action == "reply"  # one more still fits


def test_four_pictures_wait_for_four_free_places_in_the_media_budget() -> None:
    uploads = [NOW - 1700 + i for i in range(28)]  # 28 of 30 in the window
    assert budget_free_at(uploads, (30, 1800.0), NOW, need=2) == 0.0
    # four need the two oldest out of the window first
    assert budget_free_at(uploads, (30, 1800.0), NOW, need=4) == uploads[1] + 1800.0
    wait = decide(mention("more like this"), facts(uploads=uploads), SETTINGS)
    assert wait.action == "wait" and wait.until == uploads[1] + 1800.0
    assert decide(mention("again"), facts(uploads=uploads), SETTINGS).action == "reply"


def test_only_the_person_a_picture_was_made_for_may_delete_it() -> None:
    mine = decide(mention("delete"), facts(), SETTINGS)
    assert mine.action == "delete" and mine.target == PICTURE
    theirs = decide(mention("delete", author_id="bob-id"), facts(), SETTINGS)
    assert theirs.action == "ignore"
    daily = replace(PICTURE, for_author_id=None)  # the daily post: nobody's to delete
    assert decide(mention("delete"), facts(parent=[daily]), SETTINGS).action == "ignore"


def test_commands_need_a_live_picture_to_answer() -> None:
    gone = replace(PICTURE, deleted_at=NOW - 5)
    assert decide(mention("again"), facts(parent=[gone]), SETTINGS).action == "ignore"
    assert decide(mention("again"), facts(parent=[]), SETTINGS).action == "ignore"
    like = decide(mention("like #8", reply_to=""), facts(parent=[]), SETTINGS)
    assert like.action == "reply" and like.request.seed_id == 8


def test_help_once_a_day_and_notes_wait_for_the_post_budget_on_x() -> None:
    first = decide(mention("help"), facts(), SETTINGS)
    assert first.action == "note" and first.note == "help"
    again = decide(mention("help"), facts(last_help=NOW - 3600), SETTINGS)
    assert again.action == "refuse"
    full = [NOW - 100.0] * 30
    on_x = decide(mention("help"), facts(uploads=full, notes_use_budget=True), SETTINGS)
    assert on_x.action == "wait" and on_x.until == NOW - 100.0 + 1800.0


def test_a_pick_beyond_the_post_falls_back_to_its_first_picture() -> None:
    four = [replace(PICTURE, idx=i, z=[float(i)] * 4) for i in range(4)]
    third = decide(mention("more like this 3"), facts(parent=four), SETTINGS)
    assert third.target == four[2]
    single = decide(mention("morph 3"), facts(parent=[PICTURE]), SETTINGS)
    assert single.target == PICTURE
