"""The latent explorer: a page for curating good seeds and seeing what each dimension does.

    python -m model.explore                          # weights/ and weights/seeds.json
    python -m model.explore --weights runs/emoji --seeds runs/emoji/seeds.json --port 8765
    python -m model.explore --state state/bot.sqlite3   # plus the bot's most favourited pictures

One slider per latent dimension, random / nudge / reset, a grid of random candidates (click
one to load it), "save as good seed" with a note, the saved seeds with thumbnails and a few
sigma-0.5 neighbours as the bot would draw them, and a slerp strip between two seeds that
downloads as a GIF. With --state (the bot's SQLite state file, read beside a running bot), a
"popular" panel lists the bot's most favourited pictures with their counts, each loadable into
the sliders and savable as a good seed in one click. Binds to loopback unless told otherwise.
Writes to the seeds file are atomic (temporary file, then rename), keep one backup (.bak), and
are serialised with a lock file, re-reading the file first, so two browsers (or two explorers)
saving at once lose nothing.
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import io
import ipaddress
import logging
import math
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
from pydantic import BaseModel, Field

from model.errors import UserError, run_cli
from model.sampler import (
    SEEDS_FILE,
    Sampler,
    Seed,
    SeedBook,
    load_seeds,
    near_seed,
    plain_latents,
    save_seeds,
    slerp,
    to_gif,
    to_pil,
)

log = logging.getLogger("model.explore")
Z_LIMIT = 3.0  # slider range: +-3 sigma of the prior covers 99.7 % of it
VIEW_SCALE = 4
POPULAR_MAX = 48  # pictures the popular panel may ask for
POPULAR_SCAN = 1000  # pictures looked at to find them (past those from another model)

# The popular panel's source: n -> up to n pictures, most favourited first, each a dict with
# post_id, idx, url, favourites, boosts, seed_id, kind, created_at and z (see state_popular).
PopularProvider = Callable[[int], list[dict]]


@dataclass
class Explorer:
    """The page's state: one loaded generator and the path of its seeds file."""

    sampler: Sampler
    seeds_path: Path
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        load_seeds(self.seeds_path, self.sampler.z_dim)  # refuse another z_dim up front

    @property
    def z_dim(self) -> int:
        return self.sampler.z_dim

    def clamp(self, z: list[float]) -> torch.Tensor:
        if len(z) != self.z_dim:
            raise ValueError(f"z must have {self.z_dim} values, got {len(z)}")
        return torch.tensor(z, dtype=torch.float32).nan_to_num(0.0).clamp(-Z_LIMIT, Z_LIMIT)

    def png(self, z: torch.Tensor, scale: int = VIEW_SCALE) -> bytes:
        """(z_dim,) or (1, z_dim) -> PNG bytes of the picture, upscaled (nearest)."""
        image = self.sampler.generate(z.reshape(1, -1))[0]
        buf = io.BytesIO()
        to_pil(image, scale).save(buf, format="PNG")
        return buf.getvalue()

    def data_urls(self, zs: torch.Tensor, scale: int = 1) -> list[str]:
        images = self.sampler.generate(zs)
        out = []
        for image in images:
            buf = io.BytesIO()
            to_pil(image, scale).save(buf, format="PNG")
            out.append("data:image/png;base64," + base64.b64encode(buf.getvalue()).decode())
        return out

    # ------------------------------------------------------------ seeds

    @contextmanager
    def _locked(self) -> Iterator[SeedBook]:
        """Hold the seeds file for a read-modify-write: the thread lock, then a file lock."""
        lock_path = self.seeds_path.with_name(self.seeds_path.name + ".lock")
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, open(lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield load_seeds(self.seeds_path, self.z_dim)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def seeds(self) -> SeedBook:
        return load_seeds(self.seeds_path, self.z_dim)

    def add_seed(self, z: list[float], note: str) -> Seed:
        zt = self.clamp(z)
        with self._locked() as book:  # re-read inside the lock: another save may have landed
            seed = Seed(book.next_id(), [round(v, 6) for v in zt.tolist()], note.strip()[:200])
            book.seeds.append(seed)
            save_seeds(self.seeds_path, book)
        return seed

    def delete_seed(self, seed_id: int) -> bool:
        with self._locked() as book:
            kept = [s for s in book.seeds if s.id != seed_id]
            if len(kept) == len(book.seeds):
                return False
            book.seeds = kept
            save_seeds(self.seeds_path, book)
        return True

    def neighbours(self, seed: Seed, n: int, sigma: float, rng_seed: int = 0) -> torch.Tensor:
        gen = torch.Generator().manual_seed(rng_seed)
        return near_seed(seed.tensor(), n, sigma, gen)

    def strip(self, a: Seed, b: Seed, steps: int) -> torch.Tensor:
        return slerp(a.tensor(), b.tensor(), torch.linspace(0, 1, steps))

    def gif(self, zs: torch.Tensor, scale: int = VIEW_SCALE, ms: int = 120) -> bytes:
        """A looping GIF there and back through the latents."""
        return to_gif(self.sampler.generate(zs), scale, ms)


class ZIn(BaseModel):
    z: list[float]


class NudgeIn(BaseModel):
    z: list[float]
    sigma: float = Field(0.5, ge=0, le=3)
    seed: int = 0


class SeedIn(BaseModel):
    z: list[float]
    note: str = ""


def state_popular(path: Path) -> PopularProvider:
    """The popular panel's provider for the bot's state file: its most favourited pictures.

    Imports bot.state here, not at module import (model/ does not depend on bot/). The file is
    opened once now (an older schema is migrated in place, WAL mode: safe beside a running bot),
    then afresh for each call, so that each request thread has its own connection.
    """
    path = Path(path)
    if not path.is_file():  # State() would create an empty one and show nothing, silently
        raise UserError(f"--state {path}: no such file; give the bot's state file "
                        "(BOT_STATE_PATH, default state/bot.sqlite3) or leave --state out")
    from bot.state import State, StateError

    try:
        State(path).close()
    except StateError as exc:
        raise UserError(f"--state: {exc}") from None

    def popular(n: int) -> list[dict]:
        if not path.is_file():
            raise UserError(f"state file {path} is gone; restart the explorer with the "
                            "bot's state file")
        try:
            state = State(path)
        except StateError as exc:
            raise UserError(str(exc)) from None
        try:
            pictures = state.popular(limit=n)
        finally:
            state.close()
        return [{"post_id": p.post_id, "idx": p.idx, "url": p.url, "favourites": p.favourites,
                 "boosts": p.boosts, "seed_id": p.seed_id, "kind": p.kind,
                 "created_at": p.created_at, "z": list(p.z)} for p in pictures]

    return popular


def popular_note(picture: dict) -> str:
    """The note of a popular picture saved as a good seed."""
    def count(n: int, word: str) -> str:
        return f"{n} {word}" + ("" if n == 1 else "s")
    url = picture["url"]
    where = url if url.lower().startswith(("https://", "http://")) else f"post {picture['post_id']}"
    return (f"favourite {where}: {count(picture['favourites'], 'favourite')}, "
            f"{count(picture['boosts'], 'boost')}")


def create_app(explorer: Explorer,
               popular: PopularProvider | None = None):  # -> fastapi.FastAPI, imported lazily
    from fastapi import FastAPI, HTTPException
    from fastapi.responses import HTMLResponse, Response

    app = FastAPI(title="human-image-bot latent explorer")

    def bad(exc: Exception) -> HTTPException:
        return HTTPException(status_code=422, detail=str(exc))

    def find(seed_id: int) -> Seed:
        seed = explorer.seeds().get(seed_id)
        if seed is None:
            raise HTTPException(status_code=404, detail=f"no seed #{seed_id} in "
                                f"{explorer.seeds_path.name}; reload the page for the list")
        return seed

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return PAGE.replace("__Z_DIM__", str(explorer.z_dim)).replace(
            "__Z_LIMIT__", str(Z_LIMIT))

    @app.get("/api/info")
    def info() -> dict:
        card = explorer.sampler.card
        return {"z_dim": explorer.z_dim, "z_limit": Z_LIMIT,
                "image_size": explorer.sampler.generator.config.image_size,
                "seeds_file": str(explorer.seeds_path),
                "swd": (card.get("swd") or {}).get("mean"),
                "images_seen": card.get("images_seen")}

    def fits(z: object) -> bool:  # a latent from another model is skipped, not an error
        return (isinstance(z, list) and len(z) == explorer.z_dim
                and all(isinstance(v, int | float) and math.isfinite(v) for v in z))

    @app.get("/api/popular")
    def popular_pictures(n: int = 12) -> dict:
        if popular is None:
            return {"enabled": False, "pictures": []}
        n = max(1, min(n, POPULAR_MAX))
        fetch = n
        while True:  # ask for more while pictures from another model crowd the right ones out
            try:
                rows = popular(fetch)
            except UserError as exc:
                raise HTTPException(status_code=503, detail=str(exc)) from None
            keep = [r for r in rows if fits(r.get("z"))]
            if len(keep) >= n or len(rows) < fetch or fetch >= POPULAR_SCAN:
                break
            fetch = min(fetch * 4, POPULAR_SCAN)
        keep = keep[:n]
        images = (explorer.data_urls(torch.tensor([r["z"] for r in keep], dtype=torch.float32))
                  if keep else [])
        return {"enabled": True, "pictures": [
            {**r, "note": popular_note(r), "image": image}
            for r, image in zip(keep, images, strict=True)]}

    @app.post("/api/render")
    def render(body: ZIn) -> Response:
        try:
            z = explorer.clamp(body.z)
        except ValueError as exc:
            raise bad(exc) from None
        return Response(explorer.png(z), media_type="image/png",
                        headers={"Cache-Control": "no-store"})

    @app.get("/api/random")
    def random(n: int = 16, seed: int = 0) -> dict:
        n = max(1, min(n, 64))
        z = plain_latents(n, explorer.z_dim, torch.Generator().manual_seed(seed)).clamp(
            -Z_LIMIT, Z_LIMIT)
        return {"z": [[round(v, 4) for v in row] for row in z.tolist()],
                "images": explorer.data_urls(z)}

    @app.post("/api/nudge")
    def nudge(body: NudgeIn) -> dict:
        try:
            z = explorer.clamp(body.z)
        except ValueError as exc:
            raise bad(exc) from None
        out = near_seed(z, 1, body.sigma, torch.Generator().manual_seed(body.seed))[0]
        return {"z": [round(v, 4) for v in out.clamp(-Z_LIMIT, Z_LIMIT).tolist()]}

    @app.get("/api/seeds")
    def seeds() -> dict:
        book = explorer.seeds()
        thumbs = (explorer.data_urls(torch.stack([s.tensor() for s in book.seeds]))
                  if book.seeds else [])
        return {"z_dim": book.z_dim, "seeds": [
            {"id": s.id, "note": s.note, "z": s.z, "image": t}
            for s, t in zip(book.seeds, thumbs, strict=True)]}

    @app.post("/api/seeds", status_code=201)
    def save(body: SeedIn) -> dict:
        try:
            seed = explorer.add_seed(body.z, body.note)
        except ValueError as exc:
            raise bad(exc) from None
        return {"id": seed.id, "note": seed.note, "z": seed.z}

    @app.delete("/api/seeds/{seed_id}")
    def delete(seed_id: int) -> dict:
        if not explorer.delete_seed(seed_id):
            raise HTTPException(status_code=404, detail=f"no seed #{seed_id} to delete")
        return {"deleted": seed_id}

    @app.get("/api/seeds/{seed_id}/neighbours")
    def neighbours(seed_id: int, n: int = 4, sigma: float = 0.5, seed: int = 0) -> dict:
        z = explorer.neighbours(find(seed_id), max(1, min(n, 16)),
                                max(0.0, min(sigma, 3.0)), seed)
        return {"images": explorer.data_urls(z)}

    @app.get("/api/interpolate")
    def interpolate(a: int, b: int, steps: int = 8, format: str = "json"):
        zs = explorer.strip(find(a), find(b), max(2, min(steps, 32)))
        if format == "gif":
            return Response(explorer.gif(zs), media_type="image/gif", headers={
                "Content-Disposition": f'attachment; filename="seed{a}-seed{b}.gif"'})
        return {"images": explorer.data_urls(zs)}

    return app


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m model.explore", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", type=Path,
                    default=Path(__file__).resolve().parent.parent / "weights")
    ap.add_argument("--seeds", type=Path, default=None, help=f"default WEIGHTS/{SEEDS_FILE}")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--state", type=Path, default=None, metavar="PATH",
                    help="the bot's state file (BOT_STATE_PATH, e.g. state/bot.sqlite3): show "
                    "its most favourited pictures in a popular panel")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        import uvicorn
    except ImportError:
        raise UserError("the explorer needs fastapi and uvicorn: pip install -e .") from None
    if not _is_loopback(args.host):
        log.warning("warning: binding to %s makes the explorer (which can edit your seeds "
                    "file) reachable from other machines; it has no login", args.host)
    popular = state_popular(args.state) if args.state is not None else None  # bot/ imported here
    explorer = Explorer(Sampler.load(args.weights, args.device),
                        args.seeds or args.weights / SEEDS_FILE)
    print(f"latent explorer on http://{args.host}:{args.port}/ (seeds: {explorer.seeds_path}"
          + (f"; popular from {args.state})" if popular else ")"))
    uvicorn.run(create_app(explorer, popular), host=args.host, port=args.port,
                log_level="warning")
    return 0


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>latent explorer</title>
<style>
 body{font-family:system-ui,sans-serif;margin:16px;display:grid;grid-template-columns:300px 1fr;
      gap:20px;color:#222}
 h2{font-size:15px;margin:14px 0 6px}
 #current{width:256px;height:256px;image-rendering:pixelated;border:1px solid #ccc}
 .sl{display:flex;align-items:center;font-size:11px;gap:4px}
 .sl input{flex:1}
 #sliders{max-height:520px;overflow-y:auto;padding-right:6px}
 .grid img,.thumb img,#strip img{width:64px;height:64px;image-rendering:pixelated;
      border:1px solid #ddd;cursor:pointer}
 .seed,.pop{display:flex;gap:6px;align-items:center;margin:4px 0;font-size:12px}
 .pop img{width:48px;height:48px;image-rendering:pixelated;border:1px solid #ddd;cursor:pointer}
 #popular .hint{font-size:12px;color:#666}
 button{margin:2px}
</style></head><body>
<div>
 <img id="current" alt="the picture for the sliders' latent">
 <div><button id="random">random</button><button id="nudge">nudge</button>
  sigma <input id="sigma" type="number" value="0.5" step="0.1" min="0" max="3" style="width:4em">
  <button id="reset">reset</button></div>
 <div><input id="note" placeholder="note (e.g. smiling, red hair)">
  <button id="save">save as good seed</button></div>
 <h2>latent (__Z_DIM__ dimensions)</h2><div id="sliders"></div>
</div>
<div>
 <h2>candidates <button id="more">new candidates</button></h2><div id="grid" class="grid"></div>
 <h2>popular <button id="popmore">refresh</button></h2><div id="popular"></div>
 <h2>good seeds</h2><div id="seeds"></div>
 <h2>interpolation</h2>
 <div>from <select id="ia"></select> to <select id="ib"></select>
  <button id="interp">slerp</button> <a id="gif" href="#">download GIF</a></div>
 <div id="strip"></div>
</div>
<script>
const D = __Z_DIM__, L = __Z_LIMIT__;
let z = new Array(D).fill(0), start = z.slice(), nudges = 0, batch = 0, pending = null;
const $ = (id) => document.getElementById(id);
const sliders = [];
for (let i = 0; i < D; i++) {
  const row = document.createElement('div'); row.className = 'sl';
  row.innerHTML = `<span style="width:2.5em">z${i}</span>` +
    `<input type="range" id="z${i}" min="-${L}" max="${L}" step="0.01" value="0">` +
    `<span id="v${i}" style="width:3em">0.00</span>`;
  $('sliders').appendChild(row);
  const s = row.querySelector('input'); sliders.push(s);
  s.addEventListener('input', () => { z[i] = parseFloat(s.value); $('v' + i).textContent =
    z[i].toFixed(2); render(); });
}
function setZ(v) { z = v.map((x) => Math.max(-L, Math.min(L, x)));
  sliders.forEach((s, i) => { s.value = z[i]; $('v' + i).textContent = z[i].toFixed(2); });
  render(); }
async function render() {
  if (pending) { pending.again = true; return; }
  pending = {again: false};
  const r = await fetch('/api/render', {method: 'POST', headers: {'Content-Type':
    'application/json'}, body: JSON.stringify({z})});
  const url = URL.createObjectURL(await r.blob());
  const img = $('current'); const old = img.src; img.src = url;
  img.dataset.renders = (parseInt(img.dataset.renders || '0') + 1).toString();
  if (old.startsWith('blob:')) URL.revokeObjectURL(old);
  const again = pending.again; pending = null; if (again) render();
}
async function candidates() {
  const r = await (await fetch(`/api/random?n=16&seed=${batch++}`)).json();
  $('grid').innerHTML = '';
  r.images.forEach((src, i) => { const im = new Image(); im.src = src; im.title = 'load';
    im.onclick = () => { start = r.z[i].slice(); setZ(r.z[i]); }; $('grid').appendChild(im); });
}
async function seeds() {
  const r = await (await fetch('/api/seeds')).json();
  $('seeds').innerHTML = ''; $('ia').innerHTML = ''; $('ib').innerHTML = '';
  for (const s of r.seeds) {
    const row = document.createElement('div'); row.className = 'seed'; row.id = 'seed-' + s.id;
    row.innerHTML = `<img src="${s.image}" width="48" style="image-rendering:pixelated">` +
      `<b>#${s.id}</b> <span class="seednote"></span> <span class="thumb"></span>` +
      `<button data-del="${s.id}">delete</button>`;
    row.querySelector('.seednote').textContent = s.note;
    row.querySelector('img').onclick = () => { start = s.z.slice(); setZ(s.z); };
    row.querySelector('button').onclick = async () => {
      await fetch('/api/seeds/' + s.id, {method: 'DELETE'}); seeds(); };
    $('seeds').appendChild(row);
    fetch(`/api/seeds/${s.id}/neighbours?n=4&sigma=0.5`).then(x => x.json()).then(n =>
      n.images.forEach(src => { const im = new Image(); im.src = src;
        row.querySelector('.thumb').appendChild(im); }));
    for (const sel of [$('ia'), $('ib')]) { const o = document.createElement('option');
      o.value = s.id; o.textContent = '#' + s.id; sel.appendChild(o); }
  }
  if (r.seeds.length > 1) $('ib').selectedIndex = 1;
}
async function popular() {
  const box = $('popular'), hint = (text) => { box.innerHTML = '';
    const p = document.createElement('div'); p.className = 'hint'; p.textContent = text;
    box.appendChild(p); };
  const r = await fetch('/api/popular?n=12'), body = await r.json();
  if (!r.ok) return hint(body.detail);
  if (!body.enabled) return hint("Start the explorer with --state PATH (the bot's state " +
    'file, BOT_STATE_PATH, default state/bot.sqlite3) to see its most favourited pictures.');
  if (!body.pictures.length) return hint('No favourites or boosts yet.');
  box.innerHTML = '';
  body.pictures.forEach((p, i) => {
    const row = document.createElement('div'); row.className = 'pop'; row.id = 'pop-' + i;
    row.title = `${p.kind} ${p.post_id}, ${new Date(p.created_at * 1000).toLocaleString()}`;
    row.innerHTML = '<img alt="a popular picture" title="load"><span class="counts"></span>' +
      '<span class="where"></span><button class="load">load</button>' +
      '<button class="keep">save as seed</button>';
    row.querySelector('img').src = p.image;
    row.querySelector('.counts').textContent = `\u2605 ${p.favourites} \u00b7 \u27f3 ${p.boosts}`;
    if (/^https?:[/][/]/i.test(p.url)) { const a = document.createElement('a'); a.href = p.url;
      a.target = '_blank'; a.rel = 'noopener noreferrer'; a.textContent = 'post';
      row.querySelector('.where').appendChild(a); }
    const load = () => { start = p.z.slice(); setZ(p.z); };
    row.querySelector('img').onclick = load; row.querySelector('.load').onclick = load;
    const keep = row.querySelector('.keep');
    keep.onclick = async () => { keep.disabled = true;
      const s = await fetch('/api/seeds', {method: 'POST', headers: {'Content-Type':
        'application/json'}, body: JSON.stringify({z: p.z, note: p.note})});
      if (s.ok) { keep.textContent = `saved as #${(await s.json()).id}`; seeds(); }
      else { keep.disabled = false; keep.textContent = 'save failed: retry'; } };
    box.appendChild(row);
  });
}
$('popmore').onclick = popular;
$('random').onclick = async () => { const r = await (await fetch(
  `/api/random?n=1&seed=${Date.now() % 1000000}`)).json(); start = r.z[0].slice(); setZ(r.z[0]); };
$('nudge').onclick = async () => { const r = await (await fetch('/api/nudge', {method: 'POST',
  headers: {'Content-Type': 'application/json'}, body: JSON.stringify({z,
  sigma: parseFloat($('sigma').value), seed: nudges++})})).json(); setZ(r.z); };
$('reset').onclick = () => setZ(start);
$('more').onclick = candidates;
$('save').onclick = async () => { const r = await fetch('/api/seeds', {method: 'POST',
  headers: {'Content-Type': 'application/json'}, body: JSON.stringify({z,
  note: $('note').value})}); if (r.ok) { $('note').value = ''; seeds(); } };
$('interp').onclick = async () => { const a = $('ia').value, b = $('ib').value;
  const r = await (await fetch(`/api/interpolate?a=${a}&b=${b}&steps=8`)).json();
  $('strip').innerHTML = ''; r.images.forEach(src => { const im = new Image(); im.src = src;
  $('strip').appendChild(im); });
  $('gif').href = `/api/interpolate?a=${a}&b=${b}&steps=16&format=gif`; };
$('random').onclick(); candidates(); seeds(); popular();
</script></body></html>
"""


if __name__ == "__main__":
    run_cli(main)
