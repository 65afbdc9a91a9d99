"""The latent explorer's web app: a thin FastAPI layer over model.explore.explorer.Explorer.

It maps requests to the Explorer's methods (lists of floats in; PNG, GIF or JSON out) and
serves the page, a static file of this package (model/explore/static/explore.html with its .js and
.css). FastAPI is imported when the app is built, not when this module is imported. Started by
``python -m model.explore``.
"""

from __future__ import annotations

from importlib.resources import files

from pydantic import BaseModel, Field

from model.data.kinds import Label, load_kinds
from model.errors import UserError
from model.explore.explorer import SIGMA_MAX, Explorer, NoSuchSeed
from model.explore.labels import LabelFilter, label_counts, make_label
from model.explore.popular import PopularProvider
from model.serve.seeds import Seed

# The page's files, all under model/explore/static/ (shipped as package data: see pyproject.toml).
STATIC = {"explore.html": "text/html; charset=utf-8",
          "explore.js": "text/javascript; charset=utf-8",
          "explore.css": "text/css; charset=utf-8"}


class ZIn(BaseModel):
    z: list[float]
    kind: str = ""  # draw as this kind and tone (a conditional generator; drawn_as)
    tone: str = ""  # "" or "none": the default yellow


class NudgeIn(BaseModel):
    z: list[float]
    sigma: float = Field(0.5, ge=0, le=SIGMA_MAX)
    seed: int = 0


class LabelIn(BaseModel):
    """A label as the curator types it: checked by make_label (not by Field limits here), so
    that a refusal is one sentence the page can show, not pydantic's list of errors."""

    kind: str = ""
    subgroup: str = ""
    tone: str = ""  # "" or "none": the default yellow

    def label(self) -> Label | None:
        return make_label(self.kind, self.subgroup, self.tone)


class SeedIn(BaseModel):
    z: list[float]
    note: str = ""
    label: LabelIn | None = None


def static_file(name: str) -> bytes:
    """One of the page's files, read through the package (so from an installed wheel too)."""
    try:
        return (files("model.explore") / "static" / name).read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        raise UserError(f"the explorer's page model/explore/static/{name} is missing from the "
                        "installed package; reinstall it with pip install .") from None


def seed_json(seed: Seed) -> dict:
    return {"id": seed.id, "note": seed.note, "z": seed.z,
            "label": None if seed.label is None else seed.label.to_dict()}


def draw_as(kind: str, tone: str) -> Label | None:
    """The kind and tone the page asks its pictures to be drawn as (a conditional generator),
    tidied and checked as a typed label is (make_label), with the kind's subgroup (a class of
    its own); None when neither is given."""
    kind = " ".join(kind.split())
    known = load_kinds().get(kind) if kind else None
    return make_label(kind, known.subgroup if known else "", tone)


def http_error(status: int, exc: Exception):  # -> fastapi.HTTPException, imported lazily
    from fastapi import HTTPException

    return HTTPException(status_code=status, detail=str(exc))


def create_app(explorer: Explorer,
               popular: PopularProvider | None = None):  # -> fastapi.FastAPI, imported lazily
    from fastapi import FastAPI

    app = FastAPI(title="human-image-bot latent explorer")
    page_routes(app)
    picture_routes(app, explorer)
    seed_routes(app, explorer)
    strip_routes(app, explorer)
    popular_routes(app, explorer, popular)
    return app


def page_routes(app) -> None:
    """The page and its files."""
    from fastapi import HTTPException
    from fastapi.responses import Response

    pages = {name: static_file(name) for name in STATIC}  # read once: a missing one fails now

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


def picture_routes(app, explorer: Explorer) -> None:
    """The sliders' latent: the model's facts, its directions, pictures, candidates."""
    from fastapi.responses import Response

    @app.get("/api/info")
    def info() -> dict:
        return explorer.info()

    @app.get("/api/kinds")
    def kinds() -> dict:
        """The kind field's suggestions; "known" false while model/data/kinds.py is not there."""
        found = explorer.kinds
        return {"known": bool(found), "kinds": found}

    @app.get("/api/directions")
    def directions(k: int = 8) -> dict:
        return explorer.directions(k)

    @app.post("/api/render")
    def render(body: ZIn) -> Response:
        try:
            png = explorer.png(body.z, label=draw_as(body.kind, body.tone))
        except ValueError as exc:
            raise http_error(422, exc) from None
        return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})

    @app.get("/api/random")
    def random(n: int = 16, seed: int = 0, kind: str = "", tone: str = "") -> dict:
        z = explorer.random(n, seed)
        try:
            classes = explorer.drawn_as(draw_as(kind, tone), z)
        except ValueError as exc:
            raise http_error(422, exc) from None
        return {"z": z, "images": explorer.data_urls(z, classes=classes)}

    @app.post("/api/nudge")
    def nudge(body: NudgeIn) -> dict:
        try:
            return {"z": explorer.nudge(body.z, body.sigma, body.seed)}
        except ValueError as exc:
            raise http_error(422, exc) from None


def seed_routes(app, explorer: Explorer) -> None:
    """The seeds file: list (filtered by label), add, label, delete."""

    @app.get("/api/seeds")
    def seeds(kind: str | None = None, tone: str | None = None,
              unlabelled: bool = False) -> dict:
        """The seeds the filter lets through, with thumbnails; the counts are of all."""
        try:
            wanted = LabelFilter.parse(kind, tone, unlabelled)
        except ValueError as exc:
            raise http_error(422, exc) from None
        book = explorer.seeds()
        shown = [s for s in book.seeds if wanted.matches(s)]
        thumbs = explorer.seed_urls(shown)
        return {"z_dim": book.z_dim, "counts": label_counts(book.seeds), "seeds": [
            {**seed_json(s), "image": t} for s, t in zip(shown, thumbs, strict=True)]}

    @app.post("/api/seeds", status_code=201)
    def save(body: SeedIn) -> dict:
        try:
            label = body.label.label() if body.label is not None else None
            seed = explorer.add_seed(body.z, body.note, label)
        except ValueError as exc:
            raise http_error(422, exc) from None
        return seed_json(seed)

    @app.put("/api/seeds/{seed_id}/label")
    def relabel(seed_id: int, body: LabelIn) -> dict:
        """Set a seed's label (all fields empty: no label); 422 with one line if refused."""
        try:
            return seed_json(explorer.set_label(seed_id, body.label()))
        except ValueError as exc:
            raise http_error(422, exc) from None
        except NoSuchSeed as exc:
            raise http_error(404, exc) from None

    @app.delete("/api/seeds/{seed_id}")
    def delete(seed_id: int) -> dict:
        if not explorer.delete_seed(seed_id):
            raise http_error(404, LookupError(f"no seed #{seed_id} to delete"))
        return {"deleted": seed_id}


def strip_routes(app, explorer: Explorer) -> None:
    """Pictures near a seed and between two."""
    from fastapi.responses import Response

    @app.get("/api/seeds/{seed_id}/neighbours")
    def neighbours(seed_id: int, n: int = 4, sigma: float = 0.5, seed: int = 0) -> dict:
        try:
            return {"images": explorer.neighbour_urls(seed_id, n, sigma, seed)}
        except NoSuchSeed as exc:
            raise http_error(404, exc) from None

    @app.get("/api/interpolate")
    def interpolate(a: int, b: int, steps: int = 8, format: str = "json"):
        """The slerp strip from seed a to seed b: steps pictures, as JSON or as a GIF of
        exactly those frames (the page's label says how many)."""
        try:
            frames = explorer.strip_pictures(a, b, steps)  # as the bot's morph: both ends kept
        except NoSuchSeed as exc:
            raise http_error(404, exc) from None
        if format == "gif":
            return Response(explorer.pictures_gif(frames), media_type="image/gif", headers={
                "Content-Disposition": f'attachment; filename="seed{a}-seed{b}.gif"'})
        return {"images": explorer.picture_urls(frames)}


def popular_routes(app, explorer: Explorer, popular: PopularProvider | None) -> None:
    """The bot's most favourited pictures (--state), or a note that the panel is off."""

    @app.get("/api/popular")
    def popular_pictures(n: int = 12) -> dict:
        if popular is None:
            return {"enabled": False, "pictures": []}
        try:
            pictures = explorer.popular(popular, n)
        except UserError as exc:
            raise http_error(503, exc) from None
        return {"enabled": True, "pictures": pictures}
