"""Asking for a kind of person, end to end against mastodon-mock: a kind in English, Japanese
and as an emoji; a skin tone in words, as a modifier and on an emoji; a kind the bot has no
seed for; "again" keeping the kind; seeds files with and without labels.

The real service runs on a tiny real generator whose good seeds carry labels (what a curator's
`model.sample keep` or the explorer writes); people ask through their own Mastodon.py clients,
and what was drawn is read back from the server (the reply, its alt text) and the state file
(the seed each picture came from).
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
import torch

pytest.importorskip("mastodon_mock")
from mastodon_mock.config import SeedAccount, SeedConfig

from bot.service import Service
from model.data.kinds import Label
from model.serve.seeds import Seed, SeedBook, save_seeds
from tests.helpers import TINY, FakeClock, client, mastodon_service, replies_to

SEED = SeedConfig(accounts=[
    SeedAccount(username="bot", access_token="bot_token"),
    SeedAccount(username="alice", access_token="alice_token"),
    SeedAccount(username="bob", access_token="bob_token"),
])
# (id, kind, subgroup, tone): two cooks in two tones, an astronaut, a vampire, a mage, and
# one seed from before labels
LABELS = [
    (1, "cook", "person-role", "light"),
    (2, "cook", "person-role", "medium-dark"),
    (3, "astronaut", "person-role", "medium"),
    (4, "vampire", "person-fantasy", ""),
    (5, "mage", "person-fantasy", "dark"),
    (6, None, None, None),
]


def labelled_book() -> SeedBook:
    gen = torch.Generator().manual_seed(11)
    seeds = []
    for i, kind, subgroup, tone in LABELS:
        label = None if kind is None else Label(kind, subgroup, tone, "test")
        seeds.append(Seed(i, torch.randn(TINY.z_dim, generator=gen).tolist(), "", label))
    return SeedBook(TINY.z_dim, seeds)


@pytest.fixture
def bot(srv, tmp_path: Path, tiny_weights: Path, monkeypatch: pytest.MonkeyPatch) -> Service:
    monkeypatch.chdir(tmp_path)
    save_seeds(tiny_weights / "seeds.json", labelled_book())
    service = mastodon_service(srv, tiny_weights, tmp_path / "state.db", FakeClock(),
                               user_limit_per_hour=100)
    yield service
    service.state.close()


def plain(status: dict) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", status["content"]))


def answer(srv, bot: Service, text: str, user: str = "alice", in_reply_to=None) -> dict:
    """The bot's one reply to a status `user` posts."""
    status = client(srv, user).status_post(text, in_reply_to_id=in_reply_to)
    bot.cycle()
    [reply] = replies_to(srv, status["id"])
    return reply


def seed_of(bot: Service, reply: dict) -> int | None:
    [picture] = bot.state.pictures_of("mastodon", reply["id"])
    return picture.seed_id


def alt(reply: dict) -> str:
    [media] = reply["media_attachments"]
    return media["description"]


@pytest.mark.parametrize("text", [
    "@bot create a human image of a cook",
    "@bot create a human image of a chef",
    "@bot コックの人間の画像を作って",
    "@bot create a human image 🧑\u200d🍳",
    "@bot 👨\u200d🍳 人間の画像を作って",
])
def test_a_kind_in_english_japanese_or_emoji_draws_a_seed_of_that_kind(srv, bot: Service,
                                                                      text: str) -> None:
    reply = answer(srv, bot, text)
    assert seed_of(bot, reply) in (1, 2)
    if "コック" in text or "人間" in text:  # answered in the language it was asked in
        assert "コック" in plain(reply) and "コック" in alt(reply)
    else:
        assert "a cook" in plain(reply) and "of a cook" in alt(reply)


@pytest.mark.parametrize("text", [
    "@bot create a human image of a cook with medium-dark skin",
    "@bot create a human image of a cook 🏾",
    "@bot create a human image 🧑🏾\u200d🍳",
])
def test_a_tone_in_words_as_a_modifier_or_on_an_emoji(srv, bot: Service, text: str) -> None:
    for user in ("alice", "bob"):  # two requests, two request ids: both the asked tone
        reply = answer(srv, bot, text, user)
        assert seed_of(bot, reply) == 2
        assert "a cook with medium-dark skin tone" in alt(reply)
        assert "Here is a cook with medium-dark skin tone, drawn from seed #2." in plain(reply)


def test_a_tone_the_kind_lacks_falls_back_to_the_kind_and_says_so(srv, bot: Service) -> None:
    reply = answer(srv, bot, "@bot create a human image of an astronaut with dark skin")
    assert seed_of(bot, reply) == 3
    assert "I have no astronaut with dark skin tone yet. Here is an astronaut with medium skin " \
           "tone" in plain(reply)


def test_a_kind_without_seeds_gets_a_picture_and_the_closest_kinds(srv, bot: Service) -> None:
    reply = answer(srv, bot, "@bot create a human image of a zombie")
    assert len(reply["media_attachments"]) == 1 and seed_of(bot, reply) in range(1, 7)
    # the fantasy kinds it has come first: they are closest to a zombie
    assert plain(reply).startswith("@alice I cannot draw a zombie yet; I can draw a mage, a "
                                   "vampire or ")
    # one post answers it (answer() unpacks exactly one): the sentence is no extra note


def test_again_keeps_the_kind_of_the_picture(srv, bot: Service) -> None:
    first = answer(srv, bot, "@bot create a human image of a vampire")
    assert seed_of(bot, first) == 4
    for _ in range(3):
        again = answer(srv, bot, "@bot again", in_reply_to=first["id"])
        assert seed_of(bot, again) == 4 and "of a vampire in a flat" in alt(again)


def test_a_plain_request_names_what_its_seed_shows(srv, bot: Service) -> None:
    seen = set()
    for i in range(12):
        reply = answer(srv, bot, f"@bot create a human image {i}", user=("alice", "bob")[i % 2])
        seed = seed_of(bot, reply)
        seen.add(seed)
        if seed == 6:  # the seed from before labels: as before
            assert "Here is a human, drawn from seed #6." in plain(reply)
        else:
            kind = {i: k for i, k, _, _ in LABELS}[seed]
            assert f" {kind}" in plain(reply) and f" {kind}" in alt(reply)
    assert len(seen) >= 3  # plain requests still draw from all the seeds


def test_an_old_seeds_file_without_labels_serves_as_before(srv, tmp_path: Path,
                                                            tiny_weights: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    monkeypatch.chdir(tmp_path)
    book = labelled_book()
    old = {"version": 1, "z_dim": TINY.z_dim,
           "seeds": [{"id": s.id, "z": s.z, "note": "old"} for s in book.seeds]}
    (tiny_weights / "seeds.json").write_text(json.dumps(old))
    service = mastodon_service(srv, tiny_weights, tmp_path / "state.db", FakeClock())
    try:
        reply = answer(srv, service, "@bot create a human image of a cook with dark skin")
        assert seed_of(service, reply) in range(1, 7)
        assert plain(reply).startswith("@alice Here is a human, drawn from seed #")
        assert "of a person in a flat" in alt(reply)
    finally:
        service.state.close()


def test_labels_kept_from_a_sheet_and_edited_in_the_explorer_are_what_the_bot_draws(
        srv, tmp_path: Path, tiny_weights: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The curator's path: a sheet's candidates kept with their labels (model.sample keep), one
    label corrected in the explorer, then people ask the running bot for those kinds."""
    from model.curate.sheets import keep_candidates
    from model.explore.explorer import Explorer
    from model.explore.labels import make_label
    from model.serve.sampler import Sampler

    monkeypatch.chdir(tmp_path)
    gen = torch.Generator().manual_seed(3)
    sheet = tmp_path / "sheet.json"  # what `model.sample sheet --kinds` writes beside its PNG
    sheet.write_text(json.dumps({
        "z_dim": TINY.z_dim, "z": torch.randn(3, TINY.z_dim, generator=gen).tolist(),
        "labels": [Label("cook", "person-role", "dark", "nearest a.png").to_dict(),
                   Label("elf", "person-fantasy", "", "nearest b.png").to_dict(),
                   Label("farmer", "person-role", "light", "nearest c.png").to_dict()]}))
    seeds = tiny_weights / "seeds.json"
    assert keep_candidates(sheet, [0, 1, 2], seeds, "") == 0
    explorer = Explorer(Sampler.load(tiny_weights, "cpu"), seeds)
    explorer.set_label(2, make_label("fairy", "person-fantasy", ""))  # the elf was a fairy
    service = mastodon_service(srv, tiny_weights, tmp_path / "state.db", FakeClock())
    try:
        cook = answer(srv, service, "@bot create a human image of a cook")
        assert seed_of(service, cook) == 1 and "a cook with dark skin tone" in alt(cook)
        fairy = answer(srv, service, "@bot create a human image 🧚")
        assert seed_of(service, fairy) == 2 and "of a fairy in a flat" in alt(fairy)
        elf = answer(srv, service, "@bot create a human image of an elf", user="bob")
        assert plain(elf).startswith("@bob I cannot draw an elf yet; I can draw a fairy, ")
    finally:
        service.state.close()


# ---------------------------------------------------------------- the operator's commands


@pytest.fixture
def local_bot(tmp_path: Path, tiny_weights: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An in-process python -m bot on the local platform, with the labelled seeds."""
    monkeypatch.chdir(tmp_path)
    save_seeds(tiny_weights / "seeds.json", labelled_book())
    for key, value in {"BOT_WEIGHTS_DIR": str(tiny_weights), "BOT_LOCAL__STDIN": "false",
                       "BOT_DAILY_POST_ENABLED": "false"}.items():
        monkeypatch.setenv(key, value)
    return tmp_path


def test_bot_kinds_lists_every_kind_with_its_seeds_and_tones(
        local_bot: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bot.__main__ import main
    from model.data.kinds import load_kinds

    assert main(["kinds"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line[:24].strip(): line for line in lines[1:-1]}
    assert set(rows) == {k.name for k in load_kinds().kinds}  # every kind, seeds or none
    assert rows["cook"].split()[-5:] == ["2", "light", "#1,", "medium-dark", "#2"]
    assert rows["vampire"].split()[-3:] == ["1", "default", "#4"]
    assert rows["zombie"].split()[-1] == "0"
    # kinds with seeds first, most first, then by subgroup and name
    assert [line[:24].strip() for line in lines[1:5]] == ["cook", "mage", "vampire", "astronaut"]
    assert rows[lines[5][:24].strip()].split()[-1] == "0"
    assert lines[-1].startswith("55 kinds, 4 with seeds; 6 seeds in ")
    assert lines[-1].endswith(", 1 without a kind (6)")  # "like #6" draws it too


def test_generate_draws_what_a_text_asks_for(local_bot: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from bot.__main__ import main

    assert main(["generate", "--n", "4", "--out", "cooks/", "--ask", "🧑🏾\u200d🍳"]) == 0
    index = json.loads((local_bot / "cooks" / "replies.json").read_text())
    assert [(r["seed_id"], r["kind"], r["tone"]) for r in index] == [(2, "cook",
                                                                     "medium-dark")] * 4
    assert all("of a cook with medium-dark skin tone" in r["alt_text"] for r in index)
    capsys.readouterr()
    assert main(["generate", "--out", "x.png", "--ask", "a dragon"]) == 64
    [err] = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert "--ask 'a dragon' names no kind or skin tone" in err and "bot kinds" in err
    assert not (local_bot / "x.png").exists()
