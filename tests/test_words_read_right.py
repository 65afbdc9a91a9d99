"""Words read right, end to end with the shipped weights on the local platform: two kinds in
one request, every form of a tone phrase, Japanese kind words inside other words, the reply's
language, and the operator's `bot generate --ask` and `bot kinds` saying what the seeds draw.

Which kinds and tones the shipped seeds hold is read from weights/seeds.json at test time,
never written here: the shipped weights may be replaced.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.cli.parts import make_artist
from bot.config import load_settings
from bot.conversation.kinds import GENERIC
from bot.platforms.local import LocalPlatform
from bot.service import Clock, Service
from bot.settings import REPO
from bot.state.store import State
from model.data.kinds import load_kinds
from model.serve.seeds import SeedBook, load_seeds

WEIGHTS = REPO / "weights"
pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def shipped() -> SeedBook:
    z_dim = json.loads((WEIGHTS / "generator.json").read_text())["config"]["z_dim"]
    return load_seeds(WEIGHTS / "seeds.json", z_dim)


def seeded(book: SeedBook) -> dict[str, set[str]]:
    """kind -> the tones its shipped seeds are drawn in ("" the default)."""
    out: dict[str, set[str]] = {}
    for seed in book.seeds:
        if seed.label is not None and seed.label.kind:
            out.setdefault(seed.label.kind, set()).add(seed.label.tone)
    return out


def seedless(book: SeedBook) -> str:
    """A kind the shipped seeds do not draw: the zombie of the issue while it has none."""
    missing = sorted(k.name for k in load_kinds().kinds if k.name not in seeded(book))
    assert missing, "every kind has seeds now: nothing to ask for that cannot be drawn"
    return "zombie" if "zombie" in missing else missing[0]


def test_a_local_conversation_reads_the_words_right(
        tmp_path: Path, shipped: SeedBook, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    kinds = seeded(shipped)
    # the shorter name first: the longest phrase, which once won, is the second kind
    named = sorted((k for k in kinds if k not in GENERIC), key=lambda k: (len(k), k))
    first, second = named[0], named[-1]
    # a kind with a "medium-" tone and the tone inside its name: misread, it draws the latter
    [(toned, tone)] = [(k, f"medium-{t}") for t in ("dark", "light")
                       for k, tones in sorted(kinds.items())
                       if {t, f"medium-{t}"} <= tones and k not in GENERIC][:1]
    zombie = seedless(shipped)
    settings = load_settings(weights_dir=WEIGHTS, state_path=tmp_path / "state.db",
                             local={"inbox": tmp_path / "inbox", "outbox": tmp_path / "out",
                                    "stdin": False},
                             daily_post_enabled=False, best_of=1)  # the words are tested
    asked = {
        "two": f"@alice create a human image of a {first}, not a {second}",
        "tone": f"@bob create a human image of a {toned}, {tone} skinned",
        "inside": "@carol パトロールの人間の画像を作って",  # patrol: トロール (troll) inside
        "kana": "@dave create a human image for ユキ",
        "none": f"@erin create a human image of a {zombie}",
    }
    settings.local.inbox.mkdir(parents=True)
    for name, text in asked.items():
        (settings.local.inbox / f"{name}.txt").write_text(text)
    clock = Clock()
    service = Service(settings, LocalPlatform(settings.local, wake=clock.wake,
                                              out=io.StringIO()),
                      make_artist(settings), State(settings.state_path, clock=clock.now), clock)
    service.start()
    try:
        service.cycle()
        replies = {}
        for path in settings.local.outbox.glob("*.json"):
            reply = json.loads(path.read_text(encoding="utf-8"))
            name = reply["in_reply_to"].split("-")[1]
            [picture] = service.state.pictures_of("local", reply["id"])
            label = shipped.get(picture.seed_id).label
            replies[name] = (reply["text"], label.kind, label.tone)
    finally:
        service.state.close()
    assert set(replies) == set(asked)
    assert replies["two"][1] == first, replies["two"]  # the first kind named
    assert replies["tone"][1:] == (toned, tone), replies["tone"]
    assert "を描きました" in replies["inside"][0] and "トロール" not in replies["inside"][0]
    assert replies["kana"][0].startswith("@dave Here is "), replies["kana"]  # English
    sentence = replies["none"][0].removeprefix("@erin ").split(". ")[0] + "."
    assert sentence.startswith(f"I cannot draw a {zombie} yet; I can draw ")

    # the operator's --ask says the very sentence that reply began with
    monkeypatch.setenv("BOT_WEIGHTS_DIR", str(WEIGHTS))
    monkeypatch.setenv("BOT_BEST_OF", "1")
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("sys.stdout", out)
        assert main(["generate", "--out", "z.png", "--ask", f"a {zombie}"]) == 0
    assert sentence in out.getvalue().splitlines(), out.getvalue()


def test_bot_kinds_lists_every_shipped_seed_number_with_its_tone(
        tmp_path: Path, shipped: SeedBook, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """What "like #N" draws can be found in `python -m bot kinds`: each seed's number on its
    kind's row, after its tone."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BOT_WEIGHTS_DIR", str(WEIGHTS))
    assert main(["kinds"]) == 0
    listed: dict[int, tuple[str, str]] = {}
    for line in capsys.readouterr().out.splitlines()[1:-1]:
        kind, shown = line[:24].strip(), line[24:].split(maxsplit=2)[2:]
        for group in shown[0].split(", ") if shown else []:
            tone, *numbers = group.split(" #")
            listed.update({int(n): (kind, tone) for n in numbers})
    assert listed == {s.id: (s.label.kind, s.label.tone or "default")
                      for s in shipped.seeds if s.label is not None and s.label.kind}
