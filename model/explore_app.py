"""The latent explorer's web app: a thin FastAPI layer over model.explore.Explorer.

It maps requests to the Explorer's methods (lists of floats in; PNG, GIF or JSON out) and
serves the page, a static file of this package (model/static/explore.html with its .js and
.css). FastAPI is imported when the app is built, not when this module is imported. Started by
``python -m model.explore``.
"""

from __future__ import annotations

from importlib.resources import files

from pydantic import BaseModel, Field

from model.errors import UserError
from model.explore import SIGMA_MAX, Explorer, NoSuchSeed, PopularProvider

# The page's files, all under model/static/ (shipped as package data: see pyproject.toml).
STATIC = {"explore.html": "text/html; charset=utf-8",
          "explore.js": "text/javascript; charset=utf-8",
          "explore.css": "text/css; charset=utf-8"}


class ZIn(BaseModel):
    z: list[float]


class NudgeIn(BaseModel):
    z: list[float]
    sigma: float = Field(0.5, ge=0, le=SIGMA_MAX)
    seed: int = 0


class SeedIn(BaseModel):
    z: list[float]
    note: str = ""


def static_file(name: str) -> bytes:
    """One of the page's files, read through the package (so from an installed wheel too)."""
    try:
        return (files("model") / "static" / name).read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        raise UserError(f"the explorer's page model/static/{name} is missing from the "
                        "installed package; reinstall it with pip install .") from None


def create_app(explorer: Explorer,
               popular: PopularProvider | None = None):  # -> fastapi.FastAPI, imported lazily
    from fastapi import FastAPI, HTTPException
    from fastapi.responses import Response

    app = FastAPI(title="human-image-bot latent explorer")
    pages = {name: static_file(name) for name in STATIC}  # read once: a missing one fails now

    def bad(exc: Exception) -> HTTPException:
        return HTTPException(status_code=422, detail=str(exc))

    def missing(exc: NoSuchSeed) -> HTTPException:
        return HTTPException(status_code=404, detail=str(exc))

    def static(name: str) -> Response:
        return Response(pages[name], media_type=STATIC[name],
                        headers={"Cache-Control": "no-cache"})

    @app.get("/")
    def page() -> Response:
        return static("explore.html")

    @app.get("/static/{name}")
    def static_files(name: str) -> Response:
        if name not in pages or name == "explore.html":
            raise HTTPException(status_code=404, detail=f"no page file {name}")
        return static(name)

    @app.get("/api/info")
    def info() -> dict:
        return explorer.info()

    @app.get("/api/directions")
    def directions(k: int = 8) -> dict:
        return explorer.directions(k)

    @app.get("/api/popular")
    def popular_pictures(n: int = 12) -> dict:
        if popular is None:
            return {"enabled": False, "pictures": []}
        try:
            pictures = explorer.popular(popular, n)
        except UserError as exc:
            raise HTTPException(status_code=503, detail=str(exc)) from None
        return {"enabled": True, "pictures": pictures}

    @app.post("/api/render")
    def render(body: ZIn) -> Response:
        try:
            png = explorer.png(body.z)
        except ValueError as exc:
            raise bad(exc) from None
        return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})

    @app.get("/api/random")
    def random(n: int = 16, seed: int = 0) -> dict:
        z = explorer.random(n, seed)
        return {"z": z, "images": explorer.data_urls(z)}

    @app.post("/api/nudge")
    def nudge(body: NudgeIn) -> dict:
        try:
            return {"z": explorer.nudge(body.z, body.sigma, body.seed)}
        except ValueError as exc:
            raise bad(exc) from None

    @app.get("/api/seeds")
    def seeds() -> dict:
        book = explorer.seeds()
        thumbs = explorer.data_urls([s.z for s in book.seeds])
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
        try:
            return {"images": explorer.data_urls(explorer.neighbours(seed_id, n, sigma, seed))}
        except NoSuchSeed as exc:
            raise missing(exc) from None

    @app.get("/api/interpolate")
    def interpolate(a: int, b: int, steps: int = 8, format: str = "json"):
        """The slerp strip from seed a to seed b: steps pictures, as JSON or as a GIF of
        exactly those frames (the page's label says how many)."""
        try:
            zs = explorer.strip(a, b, steps)
        except NoSuchSeed as exc:
            raise missing(exc) from None
        if format == "gif":
            return Response(explorer.gif(zs), media_type="image/gif", headers={
                "Content-Disposition": f'attachment; filename="seed{a}-seed{b}.gif"'})
        return {"images": explorer.data_urls(zs)}

    return app
