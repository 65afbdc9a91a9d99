"""Mention text -> request: HTML, handles, Unicode forms, hostile input."""

from __future__ import annotations

import pytest

from bot.conversation.commands import normalise, parse, strip_html
from bot.settings import DEFAULT_TRIGGERS

T = DEFAULT_TRIGGERS


@pytest.mark.parametrize("text", [
    "@bot create a human image",
    "@bot@example.social Create A Human Image!",
    "please @bot, create a human image :)",
    "ＣＲＥＡＴＥ Ａ ＨＵＭＡＮ ＩＭＡＧＥ",  # full-width forms, folded by NFKC
    "CREATE A HUMAN IMAGE",
    "create \u202ea human\u202c image",  # bidi overrides are dropped
    "create a hu\u200bman image",  # a zero-width space inside a word is dropped
    "@bot human image please",
    "@bot 人間の画像を作ってください",
])
def test_triggers_match(text: str) -> None:
    assert parse(text, T) is not None


@pytest.mark.parametrize("text", [
    "", "hello", "@bot create a human imagery", "create a human", "human image", "please",
    "@create @a @human @image",  # handles are removed, not read as words
])
def test_other_text_is_not_a_request(text: str) -> None:
    assert parse(text, T) is None


def test_mastodon_html_is_stripped() -> None:
    html = ('<p><span class="h-card" translate="no"><a href="https://x/@bot" class="u-url '
            'mention">@<span>bot</span></a></span> Create a&nbsp;human<br>image</p>')
    request = parse(html, T, is_html=True)
    assert request is not None and request.trigger == "create a human image"
    assert strip_html("<p>a</p><p>b</p>").split() == ["a", "b"]


def test_odd_html_does_not_crash() -> None:
    for html in ["<p><b>create a human image", "</p></div>create a human image<",
                 "<script>alert(1)</script>create a human image", "<<<>>>", "<!--"]:
        result = parse(html, T, is_html=True)
        assert result is None or result.trigger == "create a human image"
    assert parse("<script>create a human image</script>", T, is_html=True) is None


def test_a_huge_text_is_read_whole() -> None:
    """"Anywhere in the text" means anywhere: each step is linear in the text's length."""
    text = "x " * 50_000 + "create a human image"  # 100 KB, trigger at the very end
    assert parse(text, T) is not None
    assert len(normalise("y" * 100_000)) == 100_000
    assert parse("create a human image " + "x" * 100_000, T) is not None
    assert parse("x " * 50_000 + "create a human", T) is None


def test_control_characters_are_removed() -> None:
    assert normalise("create\x00 a\x07 human\r\nimage") == "create a human image"


def test_custom_triggers_are_normalised_too() -> None:
    assert parse("@bot DRAW ME", ["Draw me"]) is not None
    assert parse("@bot draw", ["Draw me"]) is None


@pytest.mark.parametrize(("text", "triggers", "reply", "lang"), [
    ("create a human image for ユキ", T, False, "en"),  # a name in kana
    ("create a human image ー", T, False, "en"),  # a lone long-vowel mark
    ("create a human image (ﾉ◕ヮ◕)ﾉ*:･ﾟ✧", T, False, "en"),  # a kaomoji
    ("create a human image (´・ω・`)", T, False, "en"),
    ("ユキに人間の画像を作って please", T, False, "ja"),  # the trigger is Japanese
    ("like #12 ユキ", T, False, "en"),
    ("#12みたいに please", T, False, "ja"),
    ("morph してください", T, True, "en"),  # the command phrase decides
    ("もう一回 please", T, True, "ja"),
    # a phrase in no language (an operator's emoji trigger): what else is there decides
    ("🎨 ユキの絵をお願いします", ["🎨"], False, "ja"),
    ("🎨 for ユキ please", ["🎨"], False, "en"),
    ("🎨 ー", ["🎨"], False, "en"),
    ("🎨 (ﾉ◕ヮ◕)ﾉ", ["🎨"], False, "en"),
])
def test_a_request_is_answered_in_the_language_of_its_phrase(
        text: str, triggers: list[str], reply: bool, lang: str) -> None:
    request = parse(f"@bot {text}", triggers, reply_to_picture=reply)
    assert request is not None and request.lang == lang
