"""The latent explorer: its HTTP API through a test client, and the page in a real Chromium."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from model.errors import UserError
from model.explore import Z_LIMIT, Explorer, create_app, main, state_popular
from model.sampler import Sampler, Seed, SeedBook, load_seeds, save_seeds
from tests.conftest import TINY


@pytest.fixture
def explorer(tiny_weights: Path) -> Explorer:
    return Explorer(Sampler.load(tiny_weights, "cpu"), tiny_weights / "seeds.json")


@pytest.fixture
def client(explorer: Explorer) -> TestClient:
    return TestClient(create_app(explorer))


def test_render_returns_a_png_that_follows_z(client: TestClient) -> None:
    a = client.post("/api/render", json={"z": [0.0] * TINY.z_dim})
    b = client.post("/api/render", json={"z": [1.5] * TINY.z_dim})
    assert a.status_code == 200 and a.headers["content-type"] == "image/png"
    assert a.content[:8] == b"\x89PNG\r\n\x1a\n" and a.content != b.content


def test_out_of_range_values_are_clamped(client: TestClient) -> None:
    wild = client.post("/api/render", json={"z": [100.0] * TINY.z_dim}).content
    edge = client.post("/api/render", json={"z": [Z_LIMIT] * TINY.z_dim}).content
    assert wild == edge
    r = client.post("/api/seeds", json={"z": [-50.0] * TINY.z_dim, "note": "wild"})
    assert r.status_code == 201 and set(r.json()["z"]) == {-Z_LIMIT}


def test_wrong_length_is_a_422_with_a_message(client: TestClient) -> None:
    r = client.post("/api/render", json={"z": [0.0] * 3})
    assert r.status_code == 422 and f"{TINY.z_dim} values" in r.json()["detail"]


def test_save_list_neighbours_interpolate_delete(client: TestClient, explorer: Explorer) -> None:
    ids = [client.post("/api/seeds", json={"z": [v] * TINY.z_dim, "note": f"n{v}"}).json()["id"]
           for v in (0.5, -0.5)]
    assert ids == [1, 2]
    listed = client.get("/api/seeds").json()["seeds"]
    assert [s["note"] for s in listed] == ["n0.5", "n-0.5"]
    assert listed[0]["image"].startswith("data:image/png;base64,")
    neighbours = client.get(f"/api/seeds/{ids[0]}/neighbours?n=4&sigma=0.5").json()["images"]
    assert len(neighbours) == 4 and len(set(neighbours)) == 4
    strip = client.get(f"/api/interpolate?a={ids[0]}&b={ids[1]}&steps=6").json()["images"]
    assert len(strip) == 6
    gif = client.get(f"/api/interpolate?a={ids[0]}&b={ids[1]}&steps=4&format=gif")
    assert gif.headers["content-type"] == "image/gif" and gif.content[:6] == b"GIF89a"
    assert client.delete(f"/api/seeds/{ids[0]}").status_code == 200
    assert [s.id for s in load_seeds(explorer.seeds_path, TINY.z_dim).seeds] == [ids[1]]
    assert (explorer.seeds_path.with_name("seeds.json.bak")).is_file()


def test_unknown_seed_is_a_404_with_a_message(client: TestClient) -> None:
    r = client.get("/api/seeds/99/neighbours")
    assert r.status_code == 404 and "no seed #99" in r.json()["detail"]
    assert client.delete("/api/seeds/99").status_code == 404


def test_seeds_for_another_z_dim_are_refused_not_overwritten(tiny_weights: Path) -> None:
    path = tiny_weights / "seeds.json"
    save_seeds(path, SeedBook(3, [Seed(1, [0.0, 0.0, 0.0], "other model")]))
    before = path.read_bytes()
    with pytest.raises(UserError, match="z_dim 3"):
        Explorer(Sampler.load(tiny_weights, "cpu"), path)
    assert path.read_bytes() == before


def test_concurrent_saves_lose_nothing(explorer: Explorer) -> None:
    other = Explorer(explorer.sampler, explorer.seeds_path)  # a second explorer process
    errors: list[Exception] = []

    def save_many(ex: Explorer, tag: str) -> None:
        try:
            for i in range(10):
                ex.add_seed([0.1 * i] * TINY.z_dim, f"{tag}{i}")
        except Exception as exc:  # collected so that the test fails with it
            errors.append(exc)

    threads = [threading.Thread(target=save_many, args=(ex, tag))
               for ex, tag in ((explorer, "a"), (other, "b"), (explorer, "c"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    book = load_seeds(explorer.seeds_path, TINY.z_dim)
    assert len(book.seeds) == 30 and len({s.id for s in book.seeds}) == 30
    assert {s.note for s in book.seeds} == {f"{t}{i}" for t in "abc" for i in range(10)}


# ---------------------------------------------------------------- the popular panel

URL = "https://example.social/@bot/"


def z_of(v: float) -> list[float]:
    """A latent inside the sliders' range, different in every dimension."""
    return [round(v + 0.1 * i, 6) for i in range(TINY.z_dim)]


# post id -> (favourites, boosts, z, url, created_at); the order popular must give is
# top (5 favourites), tie-boosts (2 favourites, 3 boosts), tie (2, 1: newer, so only the
# boosts put it after tie-boosts); quiet has no reactions; other is from another model.
POPULAR = {
    "tie": (2, 1, z_of(-1.2), URL + "tie", 3000.0),
    "quiet": (0, 0, z_of(0.9), URL + "quiet", 4000.0),
    "top": (5, 0, z_of(0.3), URL + "top", 1000.0),
    "other": (9, 9, [0.5] * (TINY.z_dim + 8), URL + "other", 5000.0),
    "tie-boosts": (2, 3, z_of(-0.7), "javascript:alert(1)", 2000.0),
}
ORDER = ["top", "tie-boosts", "tie"]


@pytest.fixture
def state_file(tmp_path: Path) -> Path:
    """A real bot state file holding the pictures and reactions of POPULAR."""
    from bot.platforms.base import Reaction
    from bot.state import Picture, State

    path = tmp_path / "state" / "bot.sqlite3"
    state = State(path)
    state.record_pictures("mastodon", [
        Picture(post_id, "picture", z, seed_id=1, sigma=0.5, url=url, created_at=at)
        for post_id, (_, _, z, url, at) in POPULAR.items()])
    reactions = [Reaction(f"{post_id}-{kind}-{i}", kind, post_id, f"acct{i}")
                 for post_id, (favs, boosts, *_) in POPULAR.items()
                 for kind, count in (("favourite", favs), ("reblog", boosts))
                 for i in range(count)]
    assert state.record_reactions("mastodon", reactions) == len(reactions)
    state.close()
    return path


@pytest.fixture
def popular_client(explorer: Explorer, state_file: Path) -> TestClient:
    return TestClient(create_app(explorer, state_popular(state_file)))


def test_popular_lists_favourites_then_boosts_skipping_the_rest(
        popular_client: TestClient) -> None:
    body = popular_client.get("/api/popular?n=12").json()
    assert body["enabled"] is True
    got = body["pictures"]
    assert [p["post_id"] for p in got] == ORDER  # quiet (no reactions), other (z_dim) left out
    for p in got:
        favs, boosts, z, url, at = POPULAR[p["post_id"]]
        assert (p["favourites"], p["boosts"], p["z"], p["url"]) == (favs, boosts, z, url)
        assert (p["kind"], p["seed_id"], p["created_at"]) == ("picture", 1, at)
        assert p["image"].startswith("data:image/png;base64,")
    assert got[0]["note"] == f"favourite {URL}top: 5 favourites, 0 boosts"
    assert len({p["image"] for p in got}) == 3  # each drawn from its own latent


def test_popular_looks_past_pictures_from_another_model(popular_client: TestClient) -> None:
    # the first picture by count has the wrong z_dim: n=1 must still find one
    got = popular_client.get("/api/popular?n=1").json()["pictures"]
    assert [p["post_id"] for p in got] == ["top"]


def test_popular_without_state_is_disabled(client: TestClient) -> None:
    assert client.get("/api/popular").json() == {"enabled": False, "pictures": []}


def test_popular_saved_as_seed_keeps_exactly_its_z(popular_client: TestClient,
                                                  explorer: Explorer) -> None:
    picture = popular_client.get("/api/popular").json()["pictures"][1]
    r = popular_client.post("/api/seeds", json={"z": picture["z"], "note": picture["note"]})
    assert r.status_code == 201
    saved = load_seeds(explorer.seeds_path, TINY.z_dim).seeds
    assert [(s.z, s.note) for s in saved] == [
        (POPULAR["tie-boosts"][2], "favourite post tie-boosts: 2 favourites, 3 boosts")]


def test_state_option_wires_the_panel_and_refuses_a_missing_file(
        tiny_weights: Path, state_file: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn
    apps = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: apps.append(app))  # do not serve
    missing = tmp_path / "nowhere" / "bot.sqlite3"
    with pytest.raises(UserError, match="--state") as err:
        main(["--weights", str(tiny_weights), "--state", str(missing)])
    assert str(missing) in str(err.value) and "\n" not in str(err.value)
    assert not missing.parent.exists()  # refused, not created

    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"not a database, " * 100)
    with pytest.raises(UserError, match="cannot be used"):
        main(["--weights", str(tiny_weights), "--state", str(garbage)])

    assert not apps
    assert main(["--weights", str(tiny_weights), "--state", str(state_file)]) == 0
    got = TestClient(apps[0]).get("/api/popular").json()
    assert [p["post_id"] for p in got["pictures"]] == ORDER


def test_model_does_not_import_bot_at_import_time() -> None:
    code = ("import sys, model.explore; "
            "assert not [m for m in sys.modules if m == 'bot' or m.startswith('bot.')]")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parent.parent)


# ---------------------------------------------------------------- a real browser

CHROMIUM = Path("/usr/bin/chromium")


def serve(app) -> Iterator[str]:
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:  # uvicorn flips this once it listens
        assert thread.is_alive() and time.monotonic() < deadline, "explorer did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def live_url(explorer: Explorer) -> Iterator[str]:
    yield from serve(create_app(explorer))


@pytest.fixture
def popular_url(explorer: Explorer, state_file: Path) -> Iterator[str]:
    yield from serve(create_app(explorer, state_popular(state_file)))


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (.ci/run installs it)")
def test_the_page_in_chromium(live_url: str, explorer: Explorer, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM),
                                    args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        page.goto(live_url)
        current = page.locator("#current")
        page.wait_for_function("document.getElementById('current').dataset.renders >= '1'")
        page.wait_for_selector("#grid img")
        sync_api.expect(page.locator("#popular")).to_contain_text("--state PATH")
        before = current.screenshot()

        # move a slider: the picture must change
        page.eval_on_selector("#z0", "(s) => { s.value = '2.9'; "
                              "s.dispatchEvent(new Event('input')); }")
        page.eval_on_selector("#z1", "(s) => { s.value = '-2.9'; "
                              "s.dispatchEvent(new Event('input')); }")
        page.wait_for_function("document.getElementById('current').dataset.renders >= '3'")
        page.wait_for_load_state("networkidle")
        after = current.screenshot()
        assert before != after
        page.screenshot(path=str(tmp_path / "explorer.png"), full_page=True)

        # save a seed: it is in the file, and listed after a reload
        page.fill("#note", "browser test seed")
        page.click("#save")
        page.wait_for_selector("#seeds .seed")
        saved = json.loads(explorer.seeds_path.read_text())["seeds"]
        assert [s["note"] for s in saved] == ["browser test seed"]
        assert abs(saved[0]["z"][0] - 2.9) < 1e-6 and abs(saved[0]["z"][1] + 2.9) < 1e-6
        page.reload()
        page.wait_for_selector("#seed-1")
        assert "browser test seed" in page.inner_text("#seeds")
        browser.close()


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (.ci/run installs it)")
def test_the_popular_panel_in_chromium(popular_url: str, explorer: Explorer) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    expect = sync_api.expect
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM),
                                    args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        page.goto(popular_url)
        # the page's own random latent lands first; loading a popular one must not race it
        page.wait_for_function(
            "parseInt(document.getElementById('current').dataset.renders || '0') >= 1")
        rows = page.locator("#popular .pop")
        expect(rows).to_have_count(3)
        expect(page.locator("#popular .counts")).to_have_text(
            ["\u2605 5 \u00b7 \u27f3 0", "\u2605 2 \u00b7 \u27f3 3", "\u2605 2 \u00b7 \u27f3 1"])
        # a link to the post only for an http(s) URL
        expect(page.locator("#pop-0 a")).to_have_attribute("href", URL + "top")
        expect(page.locator("#pop-1 a")).to_have_count(0)
        expect(page.locator("#pop-2 a")).to_have_attribute("href", URL + "tie")

        # load: the sliders take that picture's latent
        top = POPULAR["top"][2]
        page.click("#pop-0 .load")
        for i in (0, TINY.z_dim - 1):
            expect(page.locator(f"#v{i}")).to_have_text(f"{top[i]:.2f}")

        # save as seed, one click: exactly that latent, with its counts in the note
        assert explorer.seeds().seeds == []
        page.click("#pop-1 .keep")
        expect(page.locator("#pop-1 .keep")).to_have_text("saved as #1")
        expect(page.locator("#seed-1 .seednote")).to_have_text(
            "favourite post tie-boosts: 2 favourites, 3 boosts")
        saved = json.loads(explorer.seeds_path.read_text())["seeds"]
        assert [s["z"] for s in saved] == [POPULAR["tie-boosts"][2]]
        browser.close()
