"""The latent explorer: its HTTP API through a test client, and the page in a real Chromium."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from model.errors import UserError
from model.explore import Z_LIMIT, Explorer, create_app
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


# ---------------------------------------------------------------- a real browser

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def live_url(explorer: Explorer):
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(explorer), host="127.0.0.1", port=port,
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
