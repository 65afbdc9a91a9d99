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
import torch

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from model.errors import UserError
from model.explore.__main__ import main
from model.explore.app import create_app
from model.explore.directions import directions, factorize
from model.explore.explorer import Z_LIMIT, Explorer
from model.explore.popular import state_popular
from model.nets.dcgan import Generator
from model.serve.sampler import Sampler
from model.serve.seeds import Seed, SeedBook, load_seeds, save_seeds
from tests.helpers import TINY


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
    from bot.state.records import Picture
    from bot.state.store import State

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
    assert main(["--weights", str(tiny_weights), "--state", str(state_file),
                 "--port", str(free_port())]) == 0  # not 8765: it may be in use here
    got = TestClient(apps[0]).get("/api/popular").json()
    assert [p["post_id"] for p in got["pictures"]] == ORDER


def test_the_popular_panel_reads_the_state_file_without_the_bot(state_file: Path) -> None:
    # the schema is the contract: the explorer's command, its app and a query load no bot module
    code = ("import sys, json; import model.explore.__main__; "
            "from model.explore.popular import state_popular; "
            f"got = state_popular({str(state_file)!r})(12); "
            "print(json.dumps([[p['post_id'] for p in got], "
            "[m for m in sys.modules if m == 'bot' or m.startswith('bot.')]]))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                         cwd=Path(__file__).parent.parent)
    assert json.loads(out.stdout) == [["other", *ORDER], []]  # the explorer skips "other"


def test_the_popular_panel_never_writes_the_state_file(state_file: Path) -> None:
    import sqlite3

    before = state_file.read_bytes()
    got = state_popular(state_file)(3)
    assert [p["post_id"] for p in got] == ["other", *ORDER[:2]]
    assert state_file.read_bytes() == before
    db = sqlite3.connect(state_file)
    assert db.execute("PRAGMA user_version").fetchone()[0] >= 2  # untouched, not migrated
    db.close()


def test_a_state_file_older_than_pictures_is_one_clear_line(tmp_path: Path) -> None:
    import sqlite3

    old = tmp_path / "old.sqlite3"
    db = sqlite3.connect(old)
    db.executescript("CREATE TABLE mentions (id TEXT); PRAGMA user_version = 1;")
    db.close()
    before = old.read_bytes()
    with pytest.raises(UserError, match="schema version 1") as err:
        state_popular(old)
    assert str(old) in str(err.value) and "\n" not in str(err.value)
    assert old.read_bytes() == before  # nothing migrated, nothing written


# ---------------------------------------------------------------- a real browser

CHROMIUM = Path("/usr/bin/chromium")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(app) -> Iterator[str]:
    import uvicorn

    port = free_port()
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


# ---------------------------------------------------------------- the split: logic, app, page


def test_the_logic_works_on_lists_and_bytes(explorer: Explorer) -> None:
    z = explorer.random(3, seed=1)
    assert len(z) == 3 and all(len(row) == TINY.z_dim for row in z)
    assert all(isinstance(v, float) for row in z for v in row)
    assert explorer.random(3, seed=1) == z and len(explorer.random(1000)) == 64
    assert explorer.png(z[0])[:8] == b"\x89PNG\r\n\x1a\n"
    urls = explorer.data_urls(z)
    assert len(urls) == 3 and all(u.startswith("data:image/png;base64,") for u in urls)
    assert explorer.data_urls([]) == []
    assert explorer.clamp([9.0] * TINY.z_dim) == [Z_LIMIT] * TINY.z_dim
    nudged = explorer.nudge(z[0], 0.5, seed=2)
    assert len(nudged) == TINY.z_dim and nudged != z[0]
    a, b = (explorer.add_seed(row, "") for row in z[:2])
    strip = explorer.strip(a.id, b.id, 5)
    assert len(strip) == 5 and abs(strip[0][0] - a.z[0]) < 1e-5
    assert explorer.gif(strip)[:6] == b"GIF89a"
    assert len(explorer.neighbours(a.id, 4, 0.5)) == 4
    found = explorer.directions(3)
    assert len(found["directions"]) == 3 and len(found["eigenvalues"]) == 3


def test_the_logic_and_the_app_import_no_web_framework() -> None:
    code = ("import sys, model.explore.explorer, model.explore.app; "
            "assert 'fastapi' not in sys.modules and 'uvicorn' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parent.parent)


def test_the_page_is_a_static_file_of_the_package(client: TestClient) -> None:
    from importlib.resources import files

    static = files("model.explore") / "static"
    for name, kind in (("explore.html", "text/html"), ("explore.js", "text/javascript"),
                       ("explore.css", "text/css")):
        assert (static / name).is_file()
        r = client.get("/" if name == "explore.html" else f"/static/{name}")
        assert r.status_code == 200 and r.headers["content-type"].startswith(kind)
        assert r.content == (static / name).read_bytes()  # served as it is, nothing filled in
    html = (static / "explore.html").read_text()
    assert "/static/explore.js" in html and "/static/explore.css" in html
    assert client.get("/static/explore.html").status_code == 404
    assert client.get("/static/..%2Fexplore.py").status_code == 404


def test_the_wheel_ships_the_page(tmp_path: Path) -> None:
    pytest.importorskip("setuptools")
    import shutil
    import zipfile

    repo = Path(__file__).resolve().parent.parent
    src = tmp_path / "src"  # a copy: the build leaves build/ and *.egg-info behind
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(repo / name, src / name)
    for package in ("model", "bot"):
        shutil.copytree(repo / package, src / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    code = ("from setuptools import build_meta; "
            f"print(build_meta.build_wheel({str(tmp_path / 'dist')!r}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=src, check=True,
                         capture_output=True, text=True).stdout.strip().splitlines()[-1]
    names = zipfile.ZipFile(tmp_path / "dist" / out).namelist()
    for name in ("explore.html", "explore.js", "explore.css"):
        assert f"model/explore/static/{name}" in names
    assert "model/data/kinds.json" in names  # the kinds table the bot reads
    packages = {str(p.parent.relative_to(repo)) for p in (repo / "model").rglob("__init__.py")}
    assert {p for p in packages if f"{p}/__init__.py" not in names} == set()  # every package


# ---------------------------------------------------------------- main directions (SeFa)


def vivid(generator, seed: int = 0):
    """Give a generator (in place) visible pictures and a first layer with a known spectrum:
    singular values halving from one direction to the next, as a trained one's fall off.
    Returns the planted directions, one per row, strongest first."""
    from torch import nn

    first = generator.main[0]
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in generator.modules():
            if isinstance(m, nn.ConvTranspose2d) and m is not first:  # He init: no fading out
                m.weight.normal_(0.0, (2.0 / (m.in_channels * 4)) ** 0.5, generator=gen)
        z_dim, rest = first.weight.shape[0], first.weight[0].numel()
        u = torch.linalg.qr(torch.randn(z_dim, z_dim, generator=gen))[0]
        v = torch.linalg.qr(torch.randn(rest, z_dim, generator=gen))[0]
        s = 2.0 ** -torch.arange(z_dim, dtype=torch.float32) * (2 * rest / z_dim) ** 0.5
        first.weight.copy_(((u * s) @ v.T).reshape(first.weight.shape))
    return u.T


@pytest.fixture
def vivid_explorer(explorer: Explorer) -> Explorer:
    vivid(explorer.sampler.generator)
    return explorer


def pixel_change(generator, z0: torch.Tensor, step: torch.Tensor) -> float:
    """Mean absolute change of the uint8 pixels when each latent of z0 moves by step; a
    class-conditional generator keeps z0's classes (as the explorer's label fields hold
    them), else any step would redraw another kind."""
    from model.nets.fastgan import latent_classes
    from model.serve.pictures import to_uint8

    cond = getattr(generator, "cond", ())
    kw = {"classes": latent_classes(z0, tuple(len(c) for _, c in cond))} if cond else {}
    with torch.no_grad():
        a = to_uint8(generator(z0, **kw)).float()
        b = to_uint8(generator(z0 + step, **kw)).float()
    return (a - b).abs().mean().item()


def test_directions_are_orthonormal_and_ordered_by_eigenvalue() -> None:
    torch.manual_seed(0)
    g = Generator(TINY).eval()  # as initialised: a flat spectrum, still ordered
    vectors, eigenvalues = factorize(g)
    assert vectors.shape == (TINY.z_dim, TINY.z_dim)
    assert torch.allclose(vectors @ vectors.T, torch.eye(TINY.z_dim), atol=1e-5)
    assert (eigenvalues[:-1] >= eigenvalues[1:]).all()
    a = g.main[0].weight.detach().reshape(TINY.z_dim, -1)
    assert torch.allclose(eigenvalues, torch.linalg.svdvals(a) ** 2, rtol=1e-4)
    for d, e in zip(vectors, eigenvalues, strict=True):  # eigenvectors of A A^T
        assert torch.allclose(a @ a.T @ d, e * d, atol=1e-5)
    listed = directions(g, 3)
    assert len(listed) == 3 and all(len(d) == TINY.z_dim for d in listed)
    assert listed == vectors[:3].tolist() == directions(g, 3)  # deterministic, signs too
    with pytest.raises(ValueError):
        directions(g, 0)


def test_the_strongest_direction_changes_the_picture_most() -> None:
    torch.manual_seed(0)
    g = Generator(TINY).eval()
    planted = vivid(g)
    vectors, _ = factorize(g)
    assert torch.allclose((vectors * planted).sum(dim=1).abs(), torch.ones(TINY.z_dim),
                          atol=1e-4)  # it finds the planted directions, in their order
    gen = torch.Generator().manual_seed(1)
    z0 = torch.randn(16, TINY.z_dim, generator=gen)
    rand = torch.randn(TINY.z_dim, generator=gen)
    first, last = (pixel_change(g, z0, d) for d in (vectors[0], vectors[-1]))
    random = pixel_change(g, z0, rand / rand.norm())
    assert first > 1.2 * random and first > 10 * last and random > last


SHIPPED = Path(__file__).resolve().parent.parent / "weights"


@pytest.mark.skipif(not (SHIPPED / "generator.safetensors").is_file(), reason="no shipped weights")
def test_on_the_shipped_generator_too() -> None:
    g = Sampler.load(SHIPPED, "cpu").generator
    vectors, eigenvalues = factorize(g)
    assert (eigenvalues[:-1] >= eigenvalues[1:]).all()
    gen = torch.Generator().manual_seed(1)
    z0 = torch.randn(16, g.config.z_dim, generator=gen)
    rand = torch.randn(g.config.z_dim, generator=gen)
    first, last = (pixel_change(g, z0, d) for d in (vectors[0], vectors[-1]))
    assert first > pixel_change(g, z0, rand / rand.norm()) and first > 3 * last


def test_a_linear_first_layer_gives_the_rows_of_its_weight_per_z_dimension() -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(5, 12), torch.nn.ReLU(), torch.nn.Linear(12, 3))
    vectors, eigenvalues = factorize(net)
    w = net[0].weight.detach()  # (12, 5): z -> W z, so A = W^T
    _, s, vh = torch.linalg.svd(w, full_matrices=False)
    assert torch.allclose(eigenvalues, s**2, rtol=1e-4)
    assert torch.allclose((vectors * vh).sum(dim=1).abs(), torch.ones(5), atol=1e-4)


def test_the_directions_endpoint(client: TestClient, explorer: Explorer) -> None:
    body = client.get("/api/directions?k=3").json()
    assert body["directions"] == directions(explorer.sampler.generator, 3)
    assert len(body["eigenvalues"]) == len(body["share"]) == 3
    assert body["eigenvalues"] == sorted(body["eigenvalues"], reverse=True)
    assert 0 < sum(body["share"]) <= 1 + 1e-6
    assert len(client.get("/api/directions?k=999").json()["directions"]) == TINY.z_dim
    assert len(client.get("/api/directions?k=0").json()["directions"]) == 1
    assert client.get("/api/info").json()["directions"] == min(8, TINY.z_dim)


# ---------------------------------------------------------------- the GIF's steps


def gif_frames(data: bytes) -> tuple[int, int]:
    """A GIF's frame count and total duration (ms), decoded with PIL."""
    import io

    from PIL import Image, ImageSequence

    with Image.open(io.BytesIO(data)) as im:
        durations = [frame.info["duration"] for frame in ImageSequence.Iterator(im)]
        return im.n_frames, sum(durations)


def test_the_gif_has_exactly_the_steps_asked(vivid_explorer: Explorer) -> None:
    client = TestClient(create_app(vivid_explorer))
    a = client.post("/api/seeds", json={"z": [1.5] * TINY.z_dim}).json()["id"]
    b = client.post("/api/seeds", json={"z": [-1.0, 2.0] * (TINY.z_dim // 2)}).json()["id"]
    for asked, steps in ((2, 2), (5, 5), (16, 16), (1, 2), (99, 32)):  # limits: 2 to 32
        strip = client.get(f"/api/interpolate?a={a}&b={b}&steps={asked}").json()["images"]
        gif = client.get(f"/api/interpolate?a={a}&b={b}&steps={asked}&format=gif").content
        assert len(strip) == steps and gif_frames(gif) == (steps, steps * 120)


# ---------------------------------------------------------------- a busy port


def test_a_busy_port_is_one_line_before_any_address(tiny_weights: Path,
                                                    capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: pytest.fail("served"))
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(UserError) as err:
            main(["--weights", str(tiny_weights), "--port", str(port)])
        message = str(err.value)
        assert f"port {port}" in message and "--port N" in message and "\n" not in message
        assert "http://" not in capsys.readouterr().out

        # the command: the same line on stderr, the exit status of every UserError
        run = subprocess.run([sys.executable, "-m", "model.explore", "--weights",
                              str(tiny_weights), "--port", str(port)],
                             capture_output=True, text=True, timeout=120,
                             cwd=Path(__file__).parent.parent)
    assert run.returncode == 2 and "http://" not in run.stdout
    assert run.stderr.strip().splitlines()[-1] == f"error: {message}"


# ---------------------------------------------------------------- the new parts in a browser


def launch(p):
    return p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (.ci/run installs it)")
def test_deleting_a_seed_asks_first_in_chromium(live_url: str, explorer: Explorer) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    expect = sync_api.expect
    explorer.add_seed([0.5] * TINY.z_dim, "keep me")
    explorer.add_seed([-0.5] * TINY.z_dim, "")
    with sync_api.sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page()
        asked: list[str] = []
        deletes: list[str] = []
        page.on("request", lambda r: deletes.append(r.url) if r.method == "DELETE" else None)
        page.goto(live_url)
        expect(page.locator("#seeds .seed")).to_have_count(2)

        # dismissed: nothing is sent, the seed stays in the file and on the page
        page.once("dialog", lambda d: (asked.append(d.message), d.dismiss()))
        page.click("#seed-1 .delete")
        page.evaluate("() => new Promise((done) => setTimeout(done, 300))")
        assert len(asked) == 1 and 'seed #1 ("keep me")' in asked[0]
        assert deletes == [] and [s.id for s in explorer.seeds().seeds] == [1, 2]
        expect(page.locator("#seed-1")).to_be_visible()

        # accepted: deleted from the file and from the page
        page.once("dialog", lambda d: (asked.append(d.message), d.accept()))
        page.click("#seed-1 .delete")
        expect(page.locator("#seed-1")).to_have_count(0)
        assert len(asked) == 2 and deletes == [live_url + "/api/seeds/1"]
        assert [s.id for s in explorer.seeds().seeds] == [2]
        expect(page.locator("#seed-2")).to_be_visible()
        browser.close()


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (.ci/run installs it)")
def test_directions_and_the_gif_label_in_chromium(vivid_explorer: Explorer) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    expect = sync_api.expect
    explorer = vivid_explorer
    explorer.add_seed([1.5] * TINY.z_dim, "a")
    explorer.add_seed([-1.0, 2.0] * (TINY.z_dim // 2), "b")
    found = explorer.directions(8)["directions"]
    k = min(8, TINY.z_dim)
    for url in serve(create_app(explorer)):
        with sync_api.sync_playwright() as p:
            browser = launch(p)
            page = browser.new_page()
            page.goto(url)
            page.wait_for_function(
                "parseInt(document.getElementById('current').dataset.renders || '0') >= 1")
            # k direction sliders, strongest first, above the raw ones
            names = page.locator("#directions .sl .name")
            expect(names).to_have_count(k)
            expect(names.first).to_have_text("direction 1 (strongest)")
            expect(names.nth(1)).to_have_text("direction 2")
            assert page.evaluate("""() => document.getElementById('directions')
                .compareDocumentPosition(document.getElementById('sliders'))
                & Node.DOCUMENT_POSITION_FOLLOWING""")

            # load seed #1, then move along direction 1 by t: z = z_base + t * d_1
            page.click("#seed-1 > img")
            expect(page.locator("#v0")).to_have_text("1.50")
            renders = int(page.get_attribute("#current", "data-renders") or 0)
            page.wait_for_load_state("networkidle")
            before = page.locator("#current").screenshot()
            page.eval_on_selector("#d0", "(s) => { s.value = '1.2'; "
                                  "s.dispatchEvent(new Event('input')); }")
            expect(page.locator("#dv0")).to_have_text("1.20")
            for i in range(TINY.z_dim):
                want = max(-Z_LIMIT, min(Z_LIMIT, 1.5 + 1.2 * found[0][i]))
                got = float(page.inner_text(f"#v{i}"))
                assert abs(got - want) < 0.006, (i, got, want)
            page.wait_for_function(
                f"parseInt(document.getElementById('current').dataset.renders) > {renders}")
            page.wait_for_load_state("networkidle")
            assert page.locator("#current").screenshot() != before

            # a raw slider moved by hand: the directions start again from there
            page.eval_on_selector("#z0", "(s) => { s.value = '-2'; "
                                  "s.dispatchEvent(new Event('input')); }")
            expect(page.locator("#dv0")).to_have_text("0.00")
            assert page.eval_on_selector("#d0", "(s) => s.value") == "0"

            # the strip and the GIF: the steps asked, the label, the frames all agree
            page.fill("#steps", "5")
            page.click("#interp")
            expect(page.locator("#strip img")).to_have_count(5)
            gif = page.locator("#gif")
            expect(gif).to_have_text("download GIF (5 frames)")
            data = page.request.get(url + gif.get_attribute("href")).body()
            assert gif_frames(data)[0] == 5
            page.fill("#steps", "99")  # clamped to the server's limit, and shown so
            page.click("#interp")
            expect(page.locator("#strip img")).to_have_count(32)
            expect(gif).to_have_text("download GIF (32 frames)")
            expect(page.locator("#steps")).to_have_value("32")
            data = page.request.get(url + gif.get_attribute("href")).body()
            assert gif_frames(data)[0] == 32
            browser.close()


# ---------------------------------------------------------------- labels, over HTTP on loopback


def fake_kinds(monkeypatch: pytest.MonkeyPatch, names: dict[str, str]) -> None:
    """A model.data.kinds module whose load_kinds() gives these kinds (name -> subgroup), in the
    shape the real one has, so that the explorer's suggestions do not wait on that file."""
    import types
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Kind:
        name: str
        subgroup: str
        emoji: tuple[str, ...] = ("1F9D1-200D-1F373", "1F469-200D-1F373")
        en: str = ""
        ja: str = ""

    module = types.ModuleType("model.data.kinds")
    module.load_kinds = lambda: types.SimpleNamespace(  # type: ignore[attr-defined]
        kinds=tuple(Kind(n, g) for n, g in names.items()))
    monkeypatch.setitem(sys.modules, "model.data.kinds", module)


def on_disk(explorer: Explorer) -> list[dict]:
    return json.loads(explorer.seeds_path.read_text())["seeds"]


def test_a_label_edited_over_http_is_in_the_file(live_url: str, explorer: Explorer) -> None:
    import requests

    made = requests.post(live_url + "/api/seeds", json={"z": [0.5] * TINY.z_dim, "note": "a"},
                         timeout=30)
    assert made.status_code == 201 and made.json()["label"] is None
    sid = made.json()["id"]
    r = requests.put(f"{live_url}/api/seeds/{sid}/label", timeout=30, json={
        "kind": "  cook ", "subgroup": "person-role", "tone": "medium-dark"})
    assert r.status_code == 200
    want = {"kind": "cook", "subgroup": "person-role", "tone": "medium-dark",
            "source": "explorer"}
    assert r.json()["label"] == want and on_disk(explorer)[0]["label"] == want
    assert "label" not in json.loads(explorer.seeds_path.with_name("seeds.json.bak")
                                     .read_text())["seeds"][0]  # the file before, kept
    listed = requests.get(live_url + "/api/seeds", timeout=30).json()["seeds"]
    assert listed[0]["label"] == want and listed[0]["image"].startswith("data:image/png")

    # the same label again writes nothing (the .bak stays the file before the change)
    files = (explorer.seeds_path.read_bytes(),
             explorer.seeds_path.with_name("seeds.json.bak").read_bytes())
    again = requests.put(f"{live_url}/api/seeds/{sid}/label", timeout=30, json={
        "kind": "cook", "subgroup": "person-role", "tone": "medium-dark"})
    assert again.status_code == 200 and again.json()["label"] == want
    assert (explorer.seeds_path.read_bytes(),
            explorer.seeds_path.with_name("seeds.json.bak").read_bytes()) == files

    # tone "none" is the default yellow; all fields empty removes the label
    r = requests.put(f"{live_url}/api/seeds/{sid}/label", timeout=30,
                     json={"kind": "cook", "tone": "none"})
    assert r.json()["label"] == {"kind": "cook", "subgroup": "", "tone": "",
                                 "source": "explorer"}
    assert requests.put(f"{live_url}/api/seeds/{sid}/label", json={}, timeout=30).ok
    assert "label" not in on_disk(explorer)[0] and explorer.seed(sid).label is None
    missing = requests.put(f"{live_url}/api/seeds/99/label", json={"kind": "cook"}, timeout=30)
    assert missing.status_code == 404 and "no seed #99" in missing.json()["detail"]


def test_a_seed_added_with_a_label_keeps_it(live_url: str, explorer: Explorer) -> None:
    import requests

    r = requests.post(live_url + "/api/seeds", timeout=30, json={
        "z": [0.1] * TINY.z_dim, "note": "n", "label": {"kind": "farmer", "tone": "light"}})
    assert r.status_code == 201
    assert on_disk(explorer)[0]["label"] == {"kind": "farmer", "subgroup": "", "tone": "light",
                                             "source": "explorer"}
    empty = requests.post(live_url + "/api/seeds", timeout=30, json={
        "z": [0.2] * TINY.z_dim, "label": {"kind": " ", "subgroup": "", "tone": "none"}})
    assert empty.status_code == 201 and "label" not in on_disk(explorer)[1]


LABELLED = [  # (kind, tone) of the seeds the filter test keeps; None: unlabelled
    ("cook", "medium"), ("cook", ""), ("farmer", "dark"), None, None, ("cook", "dark")]


def test_the_list_filters_by_label_and_counts_all(live_url: str, explorer: Explorer) -> None:
    import requests

    for i, label in enumerate(LABELLED):
        body: dict = {"z": [0.1 * i] * TINY.z_dim, "note": f"s{i}"}
        if label is not None:
            body["label"] = {"kind": label[0], "subgroup": "person-role", "tone": label[1]}
        assert requests.post(live_url + "/api/seeds", json=body, timeout=30).status_code == 201

    def ids(query: str) -> list[int]:
        r = requests.get(f"{live_url}/api/seeds?{query}", timeout=30)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["counts"] == {  # of the whole file, whatever the filter
            "all": 6, "unlabelled": 2, "kinds": {"cook": 3, "farmer": 1},
            "tones": {"none": 1, "medium": 1, "dark": 2}}
        assert all(s["image"].startswith("data:image/png") for s in body["seeds"])
        return [s["id"] for s in body["seeds"]]

    assert ids("") == [1, 2, 3, 4, 5, 6]
    assert ids("kind=cook") == [1, 2, 6]
    assert ids("tone=dark") == [3, 6]
    assert ids("kind=cook&tone=dark") == [6]
    assert ids("tone=none") == [2]  # the default yellow, not "any tone"
    assert ids("unlabelled=true") == [4, 5]
    assert ids("unlabelled=true&kind=cook") == []
    assert ids("kind=baker") == []
    bad = requests.get(live_url + "/api/seeds?tone=purple", timeout=30)
    assert bad.status_code == 422 and "purple" in bad.json()["detail"]


@pytest.mark.parametrize(("body", "words"), [
    ({"kind": "cook", "tone": "purple"}, ["'purple'", "medium-dark"]),
    ({"kind": "c" * 61}, ["kind", "61 characters", "at most 60"]),
    ({"kind": "cook", "subgroup": "s" * 80}, ["subgroup", "80 characters"]),
    ({"kind": "cook", "tone": "dark\nlight"}, ["'dark\\nlight'"]),
])
def test_a_bad_label_is_refused_and_the_file_left_alone(live_url: str, explorer: Explorer,
                                                        body: dict, words: list[str]) -> None:
    import requests

    explorer.add_seed([0.3] * TINY.z_dim, "first")
    explorer.add_seed([0.4] * TINY.z_dim, "second")  # so that a .bak exists
    files = (explorer.seeds_path.read_bytes(),
             explorer.seeds_path.with_name("seeds.json.bak").read_bytes())
    for r in (requests.put(live_url + "/api/seeds/1/label", json=body, timeout=30),
              requests.post(live_url + "/api/seeds", timeout=30,
                            json={"z": [0.0] * TINY.z_dim, "label": body})):
        assert r.status_code == 422
        detail = r.json()["detail"]
        assert isinstance(detail, str) and "\n" not in detail and len(detail) < 200
        assert all(w in detail for w in words), detail
    assert (explorer.seeds_path.read_bytes(),
            explorer.seeds_path.with_name("seeds.json.bak").read_bytes()) == files


def test_an_old_seeds_file_is_listed_unlabelled(live_url: str, explorer: Explorer) -> None:
    import requests

    old = {"version": 1, "z_dim": TINY.z_dim, "seeds": [  # as written before labels
        {"id": 3, "z": [0.2] * TINY.z_dim, "note": "old one"},
        {"id": 7, "z": [-0.2] * TINY.z_dim, "note": "old two"}]}
    explorer.seeds_path.parent.mkdir(parents=True, exist_ok=True)
    explorer.seeds_path.write_text(json.dumps(old))
    body = requests.get(live_url + "/api/seeds", timeout=30).json()
    assert [(s["id"], s["label"]) for s in body["seeds"]] == [(3, None), (7, None)]
    assert body["counts"] == {"all": 2, "unlabelled": 2, "kinds": {}, "tones": {}}
    assert len(requests.get(live_url + "/api/seeds?unlabelled=true",
                            timeout=30).json()["seeds"]) == 2
    assert requests.put(live_url + "/api/seeds/7/label", json={"kind": "cook"},
                        timeout=30).status_code == 200
    seeds = on_disk(explorer)
    assert "label" not in seeds[0] and seeds[1]["label"]["kind"] == "cook"
    assert [s["note"] for s in seeds] == ["old one", "old two"]


def test_kind_suggestions_when_model_kinds_is_there(explorer: Explorer,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    from model.explore.labels import known_kinds

    fake_kinds(monkeypatch, {"cook": "person-role", "person bowing": "person-gesture"})
    body = TestClient(create_app(explorer)).get("/api/kinds").json()
    assert body["known"] is True
    assert [(k["name"], k["subgroup"], k["emoji"]) for k in body["kinds"]] == [
        ("cook", "person-role", "\U0001f9d1\u200d\U0001f373"),
        ("person bowing", "person-gesture", "\U0001f9d1\u200d\U0001f373")]

    monkeypatch.setitem(sys.modules, "model.data.kinds", None)  # the module not there (yet)
    caplog.clear()
    assert known_kinds() == [] and "model.explore" not in {r.name for r in caplog.records}
    fresh = Explorer(explorer.sampler, explorer.seeds_path)
    assert TestClient(create_app(fresh)).get("/api/kinds").json() == {"known": False,
                                                                      "kinds": []}

    import types
    broken = types.ModuleType("model.data.kinds")
    broken.load_kinds = lambda: (_ for _ in ()).throw(  # type: ignore[attr-defined]
        UserError("model/data/kinds.json is missing"))
    monkeypatch.setitem(sys.modules, "model.data.kinds", broken)
    assert known_kinds() == [] and "kinds.json is missing" in caplog.text  # said, not fatal


def test_make_label_tidies_and_refuses() -> None:
    from model.data.kinds import Label
    from model.explore.labels import make_label

    assert make_label(" person \n bowing ", "person-gesture", "none") == Label(
        "person bowing", "person-gesture", "", "explorer")
    assert make_label("", " ", "") is None and make_label(tone="none") is None
    assert make_label(tone="dark") == Label("", "", "dark", "explorer")
    assert make_label("c" * 60) is not None
    with pytest.raises(ValueError, match="at most 60"):
        make_label("c" * 61)
    with pytest.raises(ValueError, match="not one of: none, light"):
        make_label("cook", tone="Dark")


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (.ci/run installs it)")
def test_label_filter_and_edit_in_chromium(explorer: Explorer,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    expect = sync_api.expect
    from model.data.kinds import Label

    fake_kinds(monkeypatch, {"cook": "person-role", "farmer": "person-role",
                             "person bowing": "person-gesture"})
    explorer.add_seed([0.5] * TINY.z_dim, "c", Label("cook", "person-role", "medium", "nearest"))
    explorer.add_seed([-0.5] * TINY.z_dim, "f", Label("farmer", "person-role", "dark", "x"))
    explorer.add_seed([0.9] * TINY.z_dim, "plain")
    for url in serve(create_app(explorer)):
        with sync_api.sync_playwright() as p:
            browser = launch(p)
            page = browser.new_page()
            page.goto(url)
            rows = page.locator("#seeds .seed")
            expect(rows).to_have_count(3)
            expect(page.locator("#seed-1 .label")).to_have_text(
                "cook \u00b7 person-role \u00b7 medium")
            expect(page.locator("#seed-3 .label")).to_have_text("unlabelled")
            expect(page.locator("#kindnames option")).to_have_count(3)

            # the filter: counts in its options, only the matching seeds listed
            expect(page.locator("#fkind option[value='k:cook']")).to_have_text("cook (1)")
            page.select_option("#fkind", "k:farmer")
            expect(rows).to_have_count(1)
            expect(page.locator("#seed-2")).to_be_visible()
            page.select_option("#fkind", "u")
            expect(rows).to_have_count(1)
            expect(page.locator("#seed-3")).to_be_visible()
            expect(page.locator("#fcount")).to_have_text("1 of 3")

            # edit the unlabelled seed: picking a known kind fills its subgroup
            page.click("#seed-3 .edit summary")
            page.fill("#seed-3 .kind", "person bowing")
            page.dispatch_event("#seed-3 .kind", "change")
            expect(page.locator("#seed-3 .subgroup")).to_have_value("person-gesture")
            page.select_option("#seed-3 .tone", "light")
            page.click("#seed-3 .savelabel")
            expect(rows).to_have_count(0)  # labelled now: out of the "unlabelled" list
            assert on_disk(explorer)[2]["label"] == {"kind": "person bowing",
                                                     "subgroup": "person-gesture",
                                                     "tone": "light", "source": "explorer"}
            page.select_option("#fkind", "")
            expect(rows).to_have_count(3)
            expect(page.locator("#fkind option[value='u']")).to_have_text("unlabelled (0)")

            # a refusal is shown on the page, and the file is left as it was
            before = explorer.seeds_path.read_bytes()
            page.click("#seed-1 .edit summary")
            page.fill("#seed-1 .kind", "k" * 70)
            page.click("#seed-1 .savelabel")
            expect(page.locator("#seed-1 .error")).to_contain_text("at most 60")
            assert explorer.seeds_path.read_bytes() == before
            browser.close()
