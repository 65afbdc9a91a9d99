"""The pure decision for conversation commands: limits, budgets and who may delete."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from bot.config import load_settings
from bot.conversation import sentences, texts
from bot.conversation.decision import Facts, Quota, budget_free_at, decide
from bot.platforms.base import Me, Mention, TextLimit
from bot.state.records import Picture

NOW = 1_800_000_000.0
ME = Me("1", "bot")
PICTURE = Picture("p1", "picture", [0.0] * 4, 7, 0.5, for_author_id="alice-id")


def mention(text: str, author_id: str = "alice-id", reply_to: str = "p1",
            reply_to_account: str | None = None) -> Mention:
    """A mention from `author_id`; by default a reply to the bot's post p1."""
    account = (ME.id if reply_to else "") if reply_to_account is None else reply_to_account
    return Mention(id="m1", author=author_id.removesuffix("-id"), author_id=author_id,
                   author_is_bot=False, author_bio="", text=f"@bot {text}", is_html=False,
                   visibility="public", created_at=datetime.fromtimestamp(NOW, UTC),
                   in_reply_to_id=reply_to, in_reply_to_account_id=account)


def facts(**changes) -> Facts:
    base = Facts(me=ME, now=NOW, not_before=None, quota=Quota(0, None, None), uploads=[],
                 media_limit=(30, 1800.0), blocked_until=0.0, notes_use_budget=False,
                 text_limit=TextLimit(500),
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
    for parent in ([gone], []):  # deleted, or unknown (from before a state reset)
        note = decide(mention("again"), facts(parent=parent), SETTINGS)
        assert note.action == "note" and note.note == "gone"
        assert "create a human image" in note.text  # how to ask for a new one
    # deleting what is gone: done already, nothing to say (and nobody to check it was theirs)
    assert decide(mention("delete"), facts(parent=[gone]), SETTINGS).action == "ignore"
    # a command in a reply to somebody else's post is only a word
    theirs = mention("again", reply_to="c1", reply_to_account="carol-id")
    assert decide(theirs, facts(parent=[]), SETTINGS).action == "ignore"
    like = decide(mention("like #8", reply_to=""), facts(parent=[]), SETTINGS)
    assert like.action == "reply" and like.request.seed_id == 8
    # a trigger in a reply to a gone picture asks for a new one, as anywhere
    new = decide(mention("create a human image"), facts(parent=[gone]), SETTINGS)
    assert new.action == "reply" and new.target is None


def test_help_once_a_day_and_notes_wait_for_the_post_budget_on_x() -> None:
    first = decide(mention("help"), facts(), SETTINGS)
    assert first.action == "note" and first.note == "help"
    again = decide(mention("help"), facts(last_help=NOW - 3600), SETTINGS)
    assert again.action == "refuse"
    full = [NOW - 100.0] * 30
    on_x = decide(mention("help"), facts(uploads=full, notes_use_budget=True), SETTINGS)
    assert on_x.action == "wait" and on_x.until == NOW - 100.0 + 1800.0


def test_help_in_a_new_mention_too_but_a_trigger_wins_there() -> None:
    fresh = decide(mention("help", reply_to=""), facts(parent=[]), SETTINGS)
    assert fresh.action == "note" and fresh.note == "help" and "like #12" in fresh.text
    later = decide(mention("help", reply_to=""), facts(parent=[], last_help=NOW - 60), SETTINGS)
    assert later.action == "refuse"
    both = decide(mention("help me: create a human image", reply_to=""), facts(parent=[]),
                  SETTINGS)
    assert both.action == "reply"


def test_a_pick_beyond_the_post_says_which_numbers_exist() -> None:
    four = [replace(PICTURE, idx=i, z=[float(i)] * 4) for i in range(4)]
    third = decide(mention("more like this 3"), facts(parent=four), SETTINGS)
    assert third.action == "reply" and third.target == four[2]
    for text in ("more like this 7", "morph 9", "again #0"):
        note = decide(mention(text), facts(parent=four), SETTINGS)
        assert note.action == "note" and note.note == "pick" and "1 to 4" in note.text
    single = decide(mention("morph 3"), facts(parent=[PICTURE]), SETTINGS)
    assert single.action == "note" and "one picture" in single.text


def test_one_note_per_person_per_hour_whatever_its_kind() -> None:
    four = [replace(PICTURE, idx=i) for i in range(4)]
    noted = Quota(0, None, NOW - 1800)  # a note half an hour ago, of any kind
    asks = {"unknown seed": (mention("like #99"), facts(quota=noted)),
            "pick": (mention("morph 9"), facts(parent=four, quota=noted)),
            "gone": (mention("again"), facts(parent=[], quota=noted)),
            "limit": (mention("again"), facts(quota=replace(noted, replies=8,
                                                            oldest_reply=NOW - 600)))}
    for kind, (m, f) in asks.items():
        assert decide(m, f, SETTINGS).action == "refuse", kind
        later = replace(f, quota=replace(f.quota, last_note=NOW - 3601))
        answer = decide(m, later, SETTINGS)
        assert answer.action == "note" and answer.note == kind
    # the help is asked for, and has its own rule: once a day
    assert decide(mention("help"), facts(quota=noted), SETTINGS).note == "help"


SCATTERED = frozenset(range(1, 400, 4))  # 100 seed ids, no two adjacent: 100 ranges
X = TextLimit(280, wide=2)  # X counts a CJK character twice
MASTODON = TextLimit(500)


def test_notes_never_exceed_the_platforms_length() -> None:
    long = load_settings(user_limit_per_hour=8, triggers=["create " + "a very " * 60 + "image"])
    asks = [(mention("like #9999"), facts(seed_ids=SCATTERED), SETTINGS),
            (mention("#9999みたいに"), facts(seed_ids=SCATTERED), SETTINGS),
            (mention("help"), facts(), long), (mention("ヘルプ"), facts(), long),
            (mention("again"), facts(parent=[]), long)]
    for limit in (X, MASTODON):
        for m, f, settings in asks:
            note = decide(m, replace(f, text_limit=limit), settings)
            assert note.action == "note", m.text
            assert texts.weighted_len(note.text, limit) <= limit.chars, (m.text, note.text)
            assert note.text.startswith("@alice ")
            if "9999" in m.text:
                assert "#9999" in note.text and "#1" in note.text
    # a short note is left whole
    short = decide(mention("like #9999"), facts(seed_ids=frozenset({7, 8})), SETTINGS)
    assert short.text.endswith("(I know 7-8).")


def test_a_trigger_anywhere_in_a_long_text_is_seen() -> None:
    filler = "a long and friendly preamble, " * 100  # 3,000 characters
    for text, is_html in ((f"{filler} create a human image", False),
                          (f"<p>{filler}</p><p>create a <b>human</b> image</p>", True)):
        m = replace(mention("", reply_to=""), text=text, is_html=is_html)
        assert decide(m, facts(parent=[]), SETTINGS).action == "reply"


def test_a_japanese_request_is_answered_in_japanese() -> None:
    new = decide(mention("人間の画像を作って", reply_to=""), facts(parent=[]), SETTINGS)
    assert new.action == "reply" and new.request.lang == "ja"
    assert decide(mention("create a human image"), facts(), SETTINGS).request.lang == "en"
    helped = decide(mention("ヘルプ"), facts(), SETTINGS)
    assert "もう一回" in helped.text and "人間の画像を作って" in helped.text
    unknown = decide(mention("#99みたいに"), facts(), SETTINGS)
    assert "シード#99" in unknown.text and "#7" in unknown.text
    over = decide(mention("似たのを"), facts(quota=Quota(7, NOW - 600, None)), SETTINGS)
    assert over.note == "limit" and "上限" in over.text
    gone = decide(mention("もう一回"), facts(parent=[]), SETTINGS)
    assert "人間の画像を作って" in gone.text


def test_every_sentence_has_every_language() -> None:
    """Each language's table fills the same places as the English one (none left out, none
    misspelt), so adding a language is adding a table."""
    english = texts.SENTENCES["en"]
    assert {"en", "ja"} <= set(texts.SENTENCES)
    for lang, table in texts.SENTENCES.items():
        for name, sentence in vars(table).items():
            assert sentence.strip() or not vars(english)[name].strip(), (lang, name)
            assert sentences.places(sentence) == sentences.places(vars(english)[name]), (lang, name)
    assert texts.alt_text(7, 0.5, "ja").count("#7") == 1
    assert texts.variation_alt_text(2, 4, 0.25, "en").startswith("Variation 2 of 4")
