"""What kind of person and skin tone a mention asks for (bot.conversation.kinds), with the real
kinds table, and how the replies, alt texts and the daily post name what was drawn
(bot.conversation.texts)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest

from bot.config import load_settings
from bot.conversation import commands
from bot.conversation.decision import Facts, Quota, decide
from bot.conversation.drawn import Drawn
from bot.conversation.kinds import EMPTY, Vocabulary, Wish, wish
from bot.conversation.texts import (
    alt_text,
    daily_text,
    help_text,
    reply_text,
    sentences,
    variation_alt_text,
)
from bot.drawing.artist import Drawing
from bot.platforms.base import Mention, TextLimit
from bot.settings import REPO
from bot.state.records import Picture
from model.data.kinds import TONES, load_kinds
from model.serve.seeds import load_seeds

SETTINGS = load_settings()
MASTODON = TextLimit(500)
X = TextLimit(280, wide=2)


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    table = load_kinds()
    return Vocabulary.build(table.kinds, table.tones)


@pytest.mark.parametrize("text, kind", [
    ("@bot create a human image of a cook", "cook"),
    ("create a human image of a CHEF please", "cook"),
    ("create a human image of an astronaut", "astronaut"),
    ("create a human image of a wizard", "mage"),
    ("create a human image of a vampire", "vampire"),
    ("create a human image of someone raising a hand", "person raising hand"),
    ("コックの人間の画像を作って", "cook"),
    ("魔法使いの人間の画像を作って", "mage"),
    ("create a human image 🧑\u200d🍳", "cook"),
    ("👩\u200d🚀 人間の画像を作って", "astronaut"),
    ("create a human image 🧛", "vampire"),
    ("create a human image 🧛\u200d♀\ufe0f", "vampire"),  # a gender variant, with FE0F
    ("create a human image 🧑🏾\u200d🍳", "cook"),  # a tone inside the sequence
])
def test_a_kind_in_words_or_emoji(vocab: Vocabulary, text: str, kind: str) -> None:
    assert wish(text, vocab).kind == kind


@pytest.mark.parametrize("text, tone", [
    ("create a human image with dark skin", "dark"),
    ("create a human image, medium-light skin tone", "medium-light"),
    ("create a human image, medium-dark skin", "medium-dark"),  # not "dark skin"
    ("create a human image 🏻", "light"),
    ("create a human image 🧑🏾\u200d🍳", "medium-dark"),
    ("create a human image 👍🏿", "dark"),  # a modifier on any emoji is a tone
])
def test_a_skin_tone_in_words_a_modifier_or_on_an_emoji(vocab: Vocabulary, text: str,
                                                        tone: str) -> None:
    assert wish(text, vocab).tone == tone


def test_nothing_named_is_a_plain_request(vocab: Vocabulary) -> None:
    assert wish("@bot create a human image", vocab) == Wish()
    assert wish("人間の画像を作って", vocab) == Wish()
    # "human" holds "man" but is not a man; a family emoji is nobody's "person"
    assert wish("create a human image of humans 👨\u200d👩\u200d👧", vocab) == Wish()


def test_the_most_specific_kind_wins(vocab: Vocabulary) -> None:
    # "person" also occurs, but the longer phrase names the kind
    assert wish("create a human image of a person raising hand", vocab).kind == \
        "person raising hand"


@pytest.mark.parametrize("text, kind", [
    ("create a human image of a cook, not a pilot", "cook"),
    ("create a human image of a pilot, not a cook", "pilot"),
    ("create a human image of a cook 🧛", "cook"),  # words and emoji alike: the first
    ("create a human image 🧛, or a cook", "vampire"),
    ("create a human image of an old man, or a king", "older person"),
    ("create a human image of a person in a tuxedo", "person in tuxedo"),  # "person" refined
    ("create a human image 🧑 as a cook", "cook"),
    ("create a human image of a person, a human person", "person"),
    ("コックかパイロットの人間の画像を作って", "cook"),
    ("パイロットかコックの人間の画像を作って", "pilot"),
])
def test_the_first_kind_named_is_drawn(vocab: Vocabulary, text: str, kind: str) -> None:
    """The README's rule: the first kind named, in words or emoji; "person" only when no other
    kind is named; at one place the longest phrase ("an old man", not "man")."""
    assert wish(text, vocab).kind == kind


@pytest.mark.parametrize("text, tone", [
    ("create a human image with dark skin, or light skin", "dark"),
    ("create a human image with light skin, or dark skin", "light"),
    ("create a human image 🏿 with light skin", "dark"),
    ("create a human image with light skin 🏿", "light"),
    ("create a human image 🧑🏾\u200d🍳 with light skin", "medium-dark"),
])
def test_the_first_tone_named_is_drawn(vocab: Vocabulary, text: str, tone: str) -> None:
    assert wish(text, vocab).tone == tone


_SKIN_FORMS = (" skin", " skin tone", " skin-tone", " skinned", "-skinned", " skin colour")


@pytest.mark.parametrize("tone", TONES)
def test_every_form_of_a_tone_phrase_reads_as_its_tone(vocab: Vocabulary, tone: str) -> None:
    """"medium-dark skinned" once read as "dark skinned": each tone, hyphenated or spaced,
    with every ending, before or after the kind."""
    for shade in dict.fromkeys((tone, tone.replace("-", " "))):
        for form in _SKIN_FORMS:
            for text in (f"create a human image of a pilot, {shade}{form}",
                         f"create a human image of a {shade}{form} pilot"):
                assert wish(text, vocab) == Wish("pilot", tone), text


@pytest.mark.parametrize("text", [
    "コックピットの人間の画像を作って",  # cockpit: not a cook
    "歯医者の人間の画像を作って",  # dentist: not a doctor (医者)
    "パトロールの人間の画像を作って",  # patrol: not a troll
    "警察署の人間の画像を作って",  # police station: not the police (警察)
    "こどもの日の人間の画像を作って",  # Children's Day: not a child
    "成人式の人間の画像を作って",  # coming-of-age day: not an adult (成人)
    "人物画の人間の画像を作って",  # a portrait: not a person (人物)
    "宣教師の人間の画像を作って",  # missionary: not a teacher (教師)
])
def test_a_japanese_kind_word_inside_another_word_names_nothing(vocab: Vocabulary,
                                                                 text: str) -> None:
    assert wish(text, vocab).kind is None


@pytest.mark.parametrize("text, kind", [
    ("歯医者じゃなくてお医者さんの人間の画像を作って", "health worker"),  # 医者 whole, later
    ("コックピットにいるパイロットの人間の画像を作って", "pilot"),
    ("中華料理人の人間の画像を作って", "cook"),  # 中華|料理人: a word of its own
    ("宇宙飛行士の人間の画像を作って", "astronaut"),
])
def test_a_japanese_kind_word_of_its_own_is_read_in_a_compound_text(
        vocab: Vocabulary, text: str, kind: str) -> None:
    assert wish(text, vocab).kind == kind


def test_every_japanese_phrase_of_the_table_reads_as_its_own(vocab: Vocabulary) -> None:
    """Whole words never lose a phrase of the kinds table: each one, in a request, is read as
    its kind or tone (a phrase the analyser glued to its neighbour would be lost)."""
    table = load_kinds()
    lost = [(p, k.name) for k in table.kinds for p in k.ja
            if wish(f"{p}の人間の画像を作って", vocab).kind != k.name]
    lost += [(p, t.name) for t in table.tones for p in t.ja
             if wish(f"{p}のパイロットの人間の画像を作って", vocab) != Wish("pilot", t.name)]
    assert lost == []


def test_html_mentions_are_read_like_plain_ones(vocab: Vocabulary) -> None:
    text = '<p><span class="h-card">@bot</span> create a human image of a <b>cook</b> 🏾</p>'
    assert wish(text, vocab, is_html=True) == Wish("cook", "medium-dark")


def test_the_empty_vocabulary_asks_nothing() -> None:
    assert wish("create a human image of a cook 🧑🏾\u200d🍳", EMPTY) == Wish()


# ---------------------------------------------------------------- the decision


def _mention(text: str, reply_to: str = "") -> Mention:
    return Mention(id="1", author="alice", author_id="a", author_is_bot=False, author_bio="",
                   text=text, is_html=False, visibility="public",
                   created_at=datetime(2026, 11, 29, tzinfo=UTC), in_reply_to_id=reply_to)


def _facts(**kw: object) -> Facts:
    base = dict(me=None, now=1.8e9, not_before=None, quota=Quota(0, None, None), uploads=[],
                media_limit=(300, 10800.0), blocked_until=0.0, notes_use_budget=False,
                text_limit=MASTODON)
    return Facts(**{**base, **kw})  # type: ignore[arg-type]


def test_the_decision_carries_the_kind_and_tone_of_a_new_picture(vocab: Vocabulary) -> None:
    d = decide(_mention("create a human image of a cook with dark skin"), _facts(), SETTINGS,
               vocab)
    assert d.action == "reply" and d.request is not None
    assert (d.request.kind, d.request.tone) == ("cook", "dark")


def test_again_keeps_its_pictures_kind_whatever_words_it_holds(vocab: Vocabulary) -> None:
    parent = [Picture("p1", "picture", [0.0], 3, 0.5, for_author_id="a")]
    d = decide(_mention("again, but a vampire", reply_to="p1"), _facts(parent=parent),
               SETTINGS, vocab)
    assert d.action == "reply" and d.request is not None and d.request.command == "again"
    assert (d.request.kind, d.request.tone) == (None, None)


# ---------------------------------------------------------------- what the bot says


def _drawing(kind: str = "", tone: str = "", closest: tuple[str, ...] = ()) -> Drawn:
    """What the texts are given: the description a Drawing carries."""
    return Drawing(b"", "image/png", "", 12, 256, [0.0], 0.5, kind=kind, tone=tone,
                   closest=closest).what


def _request(text: str, vocab: Vocabulary, lang: str = "en") -> commands.Request:
    found = wish(text, vocab)
    return commands.Request(text, "create a human image", lang=lang, kind=found.kind,
                            tone=found.tone)


def test_a_reply_names_what_it_drew(vocab: Vocabulary) -> None:
    request = _request("create a human image of a cook with medium-dark skin", vocab)
    text = reply_text(_mention(""), [_drawing("cook", "medium-dark")], request, SETTINGS,
                      MASTODON, vocab)
    assert text.startswith(
        "@alice Here is a cook with medium-dark skin tone, drawn from seed #12.")
    astronaut = reply_text(_mention(""), [_drawing("astronaut")], _request("an astronaut",
                           vocab), SETTINGS, MASTODON, vocab)
    assert "Here is an astronaut, drawn" in astronaut


def test_an_unlabelled_seed_is_a_human_as_before(vocab: Vocabulary) -> None:
    request = _request("create a human image", vocab)
    text = reply_text(_mention(""), [_drawing()], request, SETTINGS, MASTODON, vocab)
    assert text.startswith("@alice Here is a human, drawn from seed #12.")
    assert alt_text(12, 0.5) == alt_text(12, 0.5, "en", "", "", vocab)
    assert "of a person in a flat" in alt_text(12, 0.5)


def test_a_kind_without_seeds_says_so_and_names_the_closest(vocab: Vocabulary) -> None:
    request = _request("create a human image of a zombie", vocab)
    drawn = _drawing("vampire", "", closest=("vampire", "mage", "elf"))
    text = reply_text(_mention(""), [drawn], request, SETTINGS, MASTODON, vocab)
    assert text.startswith("@alice I cannot draw a zombie yet; I can draw a vampire, a mage "
                           "or an elf. Here is a vampire, drawn from seed #12.")
    ja = reply_text(_mention(""), [drawn], _request("ゾンビの人間の画像を作って", vocab, "ja"),
                    SETTINGS, MASTODON, vocab)
    assert ja.startswith("@alice ゾンビはまだ描けません。描けるのは吸血鬼、")


def test_a_kind_without_that_tone_says_so(vocab: Vocabulary) -> None:
    request = _request("create a human image of a cook with dark skin", vocab)
    text = reply_text(_mention(""), [_drawing("cook", "light")], request, SETTINGS,
                      MASTODON, vocab)
    assert text.startswith("@alice I have no cook with dark skin tone yet. Here is a cook "
                           "with light skin tone, drawn")


def test_what_was_asked_and_drawn_needs_no_extra_sentence(vocab: Vocabulary) -> None:
    request = _request("create a human image of a cook", vocab)
    text = reply_text(_mention(""), [_drawing("cook", "dark")], request, SETTINGS, X, vocab)
    assert text.startswith("@alice Here is a cook with dark skin tone, drawn")


def test_alt_texts_name_the_kind_in_each_language(vocab: Vocabulary) -> None:
    assert alt_text(4, 0.5, "en", "cook", "medium-dark", vocab).startswith(
        "A generated illustration of a cook with medium-dark skin tone in a flat")
    assert "コック（" in alt_text(4, 0.5, "ja", "cook", "medium-dark", vocab)
    assert "of Santa Claus in a flat" in alt_text(4, 0.5, "en", "Santa Claus", "", vocab)
    assert "of an elf in a flat" in variation_alt_text(1, 4, 0.25, "en", "elf", "", vocab)


def test_the_daily_post_names_its_kind(vocab: Vocabulary) -> None:
    assert daily_text(_drawing("mage", "light"), None, "en", vocab) == \
        "Today's human: a mage with light skin tone (seed #12)."
    assert daily_text(_drawing(), None, "en", vocab) == "Today's human (seed #12)."
    favourite = Picture("p", "picture", [0.0], 12, 0.5, favourites=3)
    assert daily_text(_drawing("cook"), favourite, "en", vocab).startswith(
        "Today's human: a cook, drawn near yesterday's favourite picture (3 favourites).")


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_the_helps_example_asks_for_what_it_promises(vocab: Vocabulary, lang: str) -> None:
    trigger = next(t for t in SETTINGS.triggers if commands.language(t) == lang)
    example = sentences(lang).help_example.format(trigger=trigger)
    assert wish(example, vocab) == Wish("construction worker", "dark")
    # ... and the shipped seeds draw it: help never suggests a kind the bot declines
    shipped = load_seeds(REPO / "weights" / "seeds.json", 40).seeds
    assert any(s.label is not None and (s.label.kind, s.label.tone) == (
        "construction worker", "dark") for s in shipped)
    request = commands.parse(example, SETTINGS.triggers)
    assert request is not None and request.command == "picture" and request.lang == lang
    assert example in help_text(_mention(""), SETTINGS, lang, MASTODON)


def test_the_trigger_phrase_itself_names_no_kind(vocab: Vocabulary) -> None:
    settings = load_settings(triggers=["draw a person"])
    plain = decide(_mention("@bot draw a person"), _facts(), settings, vocab)
    assert plain.request is not None and plain.request.kind is None
    cook = decide(_mention("@bot draw a person: a cook"), _facts(), settings, vocab)
    assert cook.request is not None and cook.request.kind == "cook"
    # the same words outside the trigger still count
    assert wish("draw a person, an older person", vocab, trigger="draw a person").kind == \
        "older person"


def test_the_japanese_analyser_loads_only_for_japanese_words() -> None:
    """English traffic never loads Sudachi; the first Japanese phrase found does (about 0.1 s,
    once), and neither loads torch: the decision side stays light."""
    code = (
        "import sys\n"
        "from bot.conversation.kinds import Vocabulary, wish\n"
        "from model.data.kinds import load_kinds\n"
        "t = load_kinds(); v = Vocabulary.build(t.kinds, t.tones)\n"
        "assert wish('create a human image of a cook', v).kind == 'cook'\n"
        "assert 'sudachipy' not in sys.modules\n"
        "assert wish('コックの人間の画像を作って', v).kind == 'cook'\n"
        "assert 'sudachipy' in sys.modules and 'torch' not in sys.modules\n")
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
