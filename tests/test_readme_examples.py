"""The README's examples work as written: read from README.md (its conversation and kinds
tables, and its sample conversations; the earlier conversation now in docs/EXPERIMENTS.md),
each goes through the real parser and decision with the default settings and the real kinds
table, and asks what its row or its answer says."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from bot.conversation.commands import parse
from bot.conversation.decision import Facts, Quota, decide
from bot.conversation.kinds import Vocabulary
from bot.platforms.base import Mention, TextLimit
from bot.settings import REPO, Settings
from bot.state.records import Picture
from model.data.kinds import load_kinds

README = (REPO / "README.md").read_text(encoding="utf-8")
# the sample conversations: the README's, and the earlier one with its pictures in the experiments
CONVERSATIONS = README + "\n" + (REPO / "docs" / "EXPERIMENTS.md").read_text(encoding="utf-8")
QUOTED = re.compile(r'"([^"]+)"')
KANA = re.compile(r"[\u3041-\u3096\u30a1-\u30fa]")
SETTINGS = Settings(_env_file=None)  # the defaults, as the README states them
PICTURE = Picture("p1", "picture", [0.0], 12, 0.5, for_author_id="alice-id")


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    table = load_kinds()
    return Vocabulary.build(table.kinds, table.tones)


def table(header: str) -> list[list[str]]:
    """The cells of each row of the README table whose header row begins with `header`."""
    lines = README.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2:]:  # past the header and its |---| line
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    assert rows, f"no rows under {header!r} in README.md"
    return rows


def mention(text: str, reply_to: str = "") -> Mention:
    return Mention(id="m1", author="alice", author_id="alice-id", author_is_bot=False,
                   author_bio="", text=f"@bot {text}", is_html=False, visibility="public",
                   created_at=datetime(2026, 12, 1, tzinfo=UTC), in_reply_to_id=reply_to)


def facts(parent: list[Picture]) -> Facts:
    return Facts(me=None, now=1.8e9, not_before=None, quota=Quota(0, None, None), uploads=[],
                 media_limit=(30, 1800.0), blocked_until=0.0, notes_use_budget=False,
                 text_limit=TextLimit(500), parent=parent, seed_ids=frozenset({12}))


def test_every_example_of_the_kinds_table_asks_for_what_its_row_says(vocab: Vocabulary
                                                                     ) -> None:
    checked = 0
    for asked, examples, drawn in table("| asked | examples |"):
        for example in QUOTED.findall(examples):
            text = example.replace("...", "create a human image", 1)  # "..." is a request
            d = decide(mention(text), facts([]), SETTINGS, vocab)
            assert d.action == "reply" and d.request is not None, (example, d.reason)
            r = d.request
            if asked.startswith("a kind"):
                assert r.kind is not None, example
            if asked.startswith("a skin tone"):
                assert r.tone is not None, example
            if asked == "nothing":
                assert (r.kind, r.tone) == (None, None), example
            assert r.lang == ("ja" if "in Japanese" in drawn or "in Japanese" in asked
                              else "en") or "as an emoji" in asked, example
            checked += 1
    assert checked >= 10


def test_every_phrase_of_the_conversation_table_is_its_rows_command() -> None:
    """Each row's phrases, English and Japanese, in a reply to a picture (and in a new
    mention where the row says so) ask for one command, a different one in each row."""
    commands = []
    for say, japanese, _ in table("| say, in a reply to a picture |"):
        found = set()
        for lang, cell in (("en", say), ("ja", japanese)):
            for phrase in QUOTED.findall(cell):
                d = decide(mention(phrase, reply_to="p1"), facts([PICTURE]), SETTINGS)
                assert d.action in ("reply", "note", "delete"), (phrase, d.reason)
                request = parse(phrase, SETTINGS.triggers, reply_to_picture=True)
                assert request is not None and request.lang == lang, phrase
                found.add(request.command)
                if "also in a new mention" in say:
                    assert decide(mention(phrase), facts([]), SETTINGS).action != "ignore"
                    new = parse(phrase, SETTINGS.triggers)
                    assert new is not None and new.command == request.command, phrase
        assert len(found) == 1, (say, found)
        commands += found
    assert len(commands) == len(set(commands)) == 6


def test_every_sample_conversation_is_answered_as_shown(vocab: Vocabulary) -> None:
    """Each "**@someone** text" line of the README's conversations (and of the one in
    docs/EXPERIMENTS.md) is a request in the language of the answer shown below it, and names
    the kind that answer names."""
    lines = CONVERSATIONS.splitlines()
    asked = [(i, m.group(1)) for i, line in enumerate(lines)
             if (m := re.match(r"> \*\*@\w+\*\* (.*)<br>$", line))]
    assert len(asked) >= 5
    for i, text in asked:
        answer = lines[i + 1].removeprefix("> **bot** ")
        request = parse(text, SETTINGS.triggers, reply_to_picture=True)
        assert request is not None, text
        assert request.lang == ("ja" if KANA.search(answer) else "en"), text
        d = decide(mention(text), facts([]), SETTINGS, vocab)
        if d.request is not None and d.request.kind is not None:
            assert vocab.name(d.request.kind, request.lang) in answer, text
