"""model.data.kinds and model/data/kinds.json: every person emoji has one kind, every kind
English and Japanese names, no phrase that a trigger could set off, lookups by emoji and by
file name."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from model.data.kinds import KINDS_FILE, TONES, Kinds, Label, base_sequence, load_kinds
from model.errors import UserError

EMOJI_TEST = Path("/usr/share/unicode/emoji/emoji-test.txt")  # as model.data reads it
needs_emoji_test = pytest.mark.skipif(
    not EMOJI_TEST.is_file(), reason=f"{EMOJI_TEST} missing: apt-get install unicode-data")


@pytest.fixture(scope="module")
def kinds() -> Kinds:
    return load_kinds()


def _person_emoji() -> list[tuple[str, str, str]]:
    from model.data.emoji import person_emoji

    return person_emoji(EMOJI_TEST)


@needs_emoji_test
def test_every_person_emoji_maps_to_exactly_one_kind(kinds: Kinds) -> None:
    people = _person_emoji()
    assert len(people) > 900  # the ~1,000 the built-in set draws
    used = set()
    for subgroup, codes, name in people:
        owners = [k for k in kinds.kinds if base_sequence(codes) in k.emoji]
        assert len(owners) == 1, f"{codes} ({name}) is drawn by {[k.name for k in owners]}"
        assert kinds.of_emoji(codes) is owners[0] and owners[0].subgroup == subgroup, name
        used.add(owners[0].name)
    assert used == {k.name for k in kinds.kinds}  # no kind without an emoji in the file
    assert 50 <= len(kinds.kinds) <= 60


@needs_emoji_test
@pytest.mark.parametrize(("cldr", "kind"), [
    ("man cook", "cook"), ("woman cook", "cook"), ("man", "person"), ("woman", "person"),
    ("boy", "child"), ("girl", "child"), ("old man", "older person"),
    ("old woman", "older person"), ("prince", "person with crown"),
    ("princess", "person with crown"), ("mermaid", "merperson"), ("merman", "merperson"),
    ("Mrs. Claus", "Santa Claus"), ("mx claus", "Santa Claus"),
    ("pregnant man", "pregnant person"), ("pregnant woman", "pregnant person"),
    ("breast-feeding", "person feeding baby"), ("woman feeding baby", "person feeding baby"),
    ("man: red hair", "person"), ("woman: beard", "person"), ("person: blond hair", "person"),
    ("woman health worker", "health worker"), ("man raising hand", "person raising hand"),
    ("deaf woman", "deaf person"), ("woman police officer", "police officer"),
])
def test_gendered_and_hair_names_map_to_the_neutral_kind(kinds: Kinds, cldr: str,
                                                         kind: str) -> None:
    codes = [c for _, c, name in _person_emoji() if name == cldr]
    assert codes, f"no {cldr!r} in {EMOJI_TEST}"
    assert {kinds.of_emoji(c).name for c in codes} == {kind}


@pytest.mark.parametrize(("codes", "kind", "tone"), [
    ("1F469-1F3FD-200D-1F373", "cook", "medium"),
    ("1F469 1F3FE 200D 1F373", "cook", "medium-dark"),  # spaces, as emoji-test.txt writes
    ("1f9d1-200d-1f373", "cook", ""),  # lower case, no modifier: the default yellow
    ("U+1F9D1 U+1F3FF U+200D U+1F680", "astronaut", "dark"),
    ("\U0001F9D1\U0001F3FE\u200d\U0001F373", "cook", "medium-dark"),  # the characters
    ("\U0001F9D1\U0001F3FE\U0001F373", "cook", "medium-dark"),  # joiner dropped by NFKC text
    ("1F575-FE0F-200D-2640-FE0F", "detective", ""),  # FE0F in or out: the same emoji
    ("1F9DC-1F3FB-200D-2640-FE0F", "merperson", "light"),
    ("1F385-1F3FC", "Santa Claus", "medium-light"),
    ("1F936", "Santa Claus", ""),
    ("1F471-1F3FF-200D-2640-FE0F", "person", "dark"),
])
def test_of_emoji_strips_gender_tone_and_selectors(kinds: Kinds, codes: str, kind: str,
                                                   tone: str) -> None:
    assert kinds.of_emoji(codes).name == kind
    assert kinds.tone_of_codes(codes) == tone


def test_what_is_no_person_has_no_kind(kinds: Kinds) -> None:
    assert kinds.of_emoji("1F600") is None  # grinning face
    assert kinds.of_emoji("1F373") is None  # the frying pan alone
    assert kinds.tone_of_codes("1F600") == ""


def test_sequences_without_their_joiner_still_name_one_kind(kinds: Kinds) -> None:
    """of_emoji's second lookup drops U+200D: that must not make two kinds' emoji one."""
    loose: dict[str, str] = {}
    for k in kinds.kinds:
        for e in k.emoji:
            key = e.replace("-200D", "")
            assert loose.setdefault(key, k.name) == k.name, (e, loose[key], k.name)


def test_every_kind_has_english_and_japanese_names(kinds: Kinds) -> None:
    for k in kinds.kinds:
        assert k.en[0] == k.name, k.name
        assert k.ja and all(_is_cjk(p) for p in k.ja), k.name
    reply_names = {k.name: k.ja[0] for k in kinds.kinds}
    assert reply_names["cook"] == "コック" and reply_names["astronaut"] == "宇宙飛行士"
    assert reply_names["mage"] == "魔法使い" and reply_names["vampire"] == "吸血鬼"
    assert reply_names["merperson"] == "人魚" and reply_names["Santa Claus"] == "サンタクロース"
    assert [t.name for t in kinds.tones] == list(TONES)
    assert [t.modifier for t in kinds.tones] == ["1F3FB", "1F3FC", "1F3FD", "1F3FE", "1F3FF"]
    assert kinds.tone("medium-dark").display_en == "medium-dark skin tone"
    assert kinds.tone("medium-dark").display_ja == "やや濃い肌"
    assert all(t.en and t.ja for t in kinds.tones)
    assert kinds.get("santa claus").name == "Santa Claus" and kinds.get("ogre") is None


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _is_cjk(phrase: str) -> bool:  # as bot.conversation.commands decides between substring and word
    return any(unicodedata.category(c).startswith("L") and ord(c) > 0x2E80 for c in phrase)


def _found(phrase: str, text: str) -> bool:
    """The bot's matching (conversation.commands): a substring for CJK, whole words for the rest."""
    phrase, text = _norm(phrase), _norm(text)
    if _is_cjk(phrase):
        return phrase in text
    return re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", text) is not None


def _phrases(kinds: Kinds) -> list[tuple[str, str]]:
    return ([(p, k.name) for k in kinds.kinds for p in (*k.en, *k.ja)]
            + [(p, "tone " + t.name) for t in kinds.tones for p in (*t.en, *t.ja)])


def test_no_phrase_collides_with_a_trigger_or_a_command(kinds: Kinds) -> None:
    from bot.conversation.commands import DEFAULT_COMMANDS
    from bot.settings import DEFAULT_TRIGGERS

    others = [*DEFAULT_TRIGGERS, *(p for ps in DEFAULT_COMMANDS.values() for p in ps)]
    assert "create a human image" in others and "人間の画像を作って" in others
    clashes = [(p, o) for p, _ in _phrases(kinds) for o in others if _found(p, o)]
    assert clashes == []
    # nothing that "human" or 人間 set off even as a bare substring (man, 人)
    bare = [p for p, _ in _phrases(kinds) if _norm(p) in "human" or _norm(p) in "人間"]
    assert bare == []


def test_each_phrase_asks_for_one_thing(kinds: Kinds) -> None:
    owners: dict[str, set[str]] = {}
    for phrase, owner in _phrases(kinds):
        owners.setdefault(_norm(phrase), set()).add(owner)
    assert {p: o for p, o in owners.items() if len(o) > 1} == {}


def _read(kinds: Kinds, text: str) -> tuple[str, str]:
    """(kind, tone) the bot reads in a text with this table (bot.conversation.kinds: the first
    named)."""
    from bot.conversation.kinds import Vocabulary, wish

    found = wish(text, Vocabulary.build(kinds.kinds, kinds.tones))
    return found.kind or "", found.tone or ""


@pytest.mark.parametrize(("text", "kind", "tone"), [
    ("create a human image of a cook", "cook", ""),
    ("create a human image of a woman cook with dark skin", "cook", "dark"),
    ("コックの人間の画像を作って", "cook", ""),
    ("create a human image of a chef, medium-dark skin please", "cook", "medium-dark"),
    ("create a human image: a wizard with light skin", "mage", "light"),
    ("create a human image of a medium-light-skinned astronaut", "astronaut", "medium-light"),
    ("create a human image of a baby angel", "baby angel", ""),
    ("create a human image of someone raising a hand", "person raising hand", ""),
    ("create a human image", "", ""),
    ("やや濃い肌の宇宙飛行士の人間の画像を作って", "astronaut", "medium-dark"),
    ("褐色の肌の魔女の人間の画像を作って", "mage", "dark"),
    ("create a human image of a MERMAID", "merperson", ""),
])
def test_requests_find_their_kind_and_tone_in_the_table(
        kinds: Kinds, text: str, kind: str, tone: str) -> None:
    assert _read(kinds, text) == (kind, tone)


@pytest.mark.parametrize(("name", "label"), [
    ("0123_person-role_1F469-1F3FB-200D-1F373.png", Label("cook", "person-role", "light")),
    ("emoji-people/0000_person_1F476.png", Label("baby", "person", "")),
    ("0500_person-fantasy_1F9DC-1F3FF-200D-2640-FE0F.png",
     Label("merperson", "person-fantasy", "dark")),
    ("0900_person-activity_1F6B6-1F3FD.png", Label("", "person-activity", "medium")),
])
def test_label_of_file_reads_a_built_in_file_name(kinds: Kinds, name: str,
                                                  label: Label) -> None:
    assert kinds.label_of_file(name) == label


def test_label_of_file_knows_no_other_name(kinds: Kinds) -> None:
    assert kinds.label_of_file("holiday/IMG_0001.jpg") is None
    assert kinds.label_of_file("0001_x_notcodes.png") is None


@pytest.mark.parametrize(("edit", "problem"), [
    (lambda d: d["tones"][4].update(name="black"), "tones"),
    (lambda d: d["tones"].pop(), "tones"),
    (lambda d: d["kinds"][0].update(ja=[]), "ja"),
    (lambda d: d["kinds"][0].update(emoji=["1F476-1F3FB"]), "1F476-1F3FB"),
    (lambda d: d["kinds"][1]["en"].append("baby"), "'baby'"),
    (lambda d: d["kinds"][1]["emoji"].append("1F476"), "'1F476'"),
    (lambda d: d["kinds"][2].update(name="Baby", en=["Baby"]), "kind name"),
    (lambda d: d.pop("kinds"), "kinds"),
])
def test_a_malformed_kinds_file_is_a_one_line_error_naming_it(
        tmp_path: Path, edit: Callable[[dict[str, Any]], object], problem: str) -> None:
    data = json.loads(KINDS_FILE.read_text(encoding="utf-8"))
    edit(data)
    path = tmp_path / "kinds.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(UserError) as err:
        load_kinds(path)
    message = str(err.value)
    assert str(path) in message and problem in message and "\n" not in message


def test_a_kinds_file_that_is_no_json_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "kinds.json"
    path.write_text('{"kinds": [\n', encoding="utf-8")
    with pytest.raises(UserError, match="malformed") as err:
        load_kinds(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(UserError, match="malformed"):
        load_kinds(tmp_path / "absent.json")


def test_the_table_is_read_once(kinds: Kinds) -> None:
    assert load_kinds() is kinds and load_kinds(KINDS_FILE) is kinds


def test_kinds_loads_without_torch() -> None:
    """The bot's pure parts load no torch: the kinds must not pull it in."""
    code = "import sys, model.data.kinds; print(sorted(m for m in sys.modules if m.startswith(" \
           "('torch', 'numpy', 'model.'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parent.parent, timeout=60, check=True)
    assert out.stdout.strip() == "['model.data', 'model.data.kinds', 'model.errors']"
