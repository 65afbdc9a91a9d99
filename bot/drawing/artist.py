"""Request -> picture: PNG bytes, alt text and the seed it came from.

Loads the generator once. Each request picks one of the curated good seeds and adds
N(0, sigma^2) noise, so every reply is new but stays near a picture somebody liked; with no seeds
it falls back to the plain N(0, I) prior (with one warning). Everything random is drawn from a
generator seeded by the request id, so a reply can be reproduced from its id. Weights whose
model card says they are a dry run, or records the SWD of noise, are refused at load
(model.serve.unservable_reason): a UserError, one line.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from bot.conversation.drawn import Drawn
from bot.conversation.kinds import Vocabulary
from bot.conversation.texts import alt_text, id_ranges, morph_alt_text, variation_alt_text
from bot.platforms.base import Media
from bot.state.records import Picture
from model.errors import UserError
from model.serve import (
    PNG_LEVEL,
    Label,
    Latent,
    Sampler,
    SeedBook,
    Served,
    ServeOptions,
    check_drawing,
    label_names,
    load_guard,
    load_kinds,
    load_seeds,
    morph_frames,
    render_png,
    request_rng,
    serve,
    serve_near,
    to_gif,
    unservable_reason,
)

log = logging.getLogger("bot.artist")  # the name operators grep for, kept across moves

REPLY_SIZE = 256  # pixels per side people see
MORPH_SIZE = 256  # the GIF's side: its frames are upscaled like the pictures
MORPH_FRAMES = 12  # start to end; with the way back, 22 frames
MORPH_MS = 90  # 22 frames x 90 ms = 1.98 s: within the 2 s a reply GIF may last


@dataclass(frozen=True)
class Drawing:
    data: bytes  # PNG, or GIF for a morph
    mime: str  # image/png or image/gif
    alt_text: str
    seed_id: int | None  # the good seed it is near (None: the plain prior)
    size: int  # pixels per side
    z: list[float]  # its latent (a morph: the latent it starts from)
    sigma: float  # the noise it was drawn with
    morph_to: int | None = None  # a morph: the good seed it travels to
    kind: str = ""  # what its seed's label says it shows ("cook"; "": not labelled)
    tone: str = ""  # its seed's skin tone ("": the default yellow, or not labelled)
    closest: tuple[str, ...] = ()  # a kind was asked that no seed has: kinds it can draw
    # The classes a conditional generator drew it in (a morph: its start's), every label set
    # named; kept with z, so that more like it is drawn in them ({}: unconditional).
    classes: Mapping[str, str] = field(default_factory=dict)
    style: str = ""  # the emoji style it is drawn in ("twemoji"; "": a one-style generator)

    @property
    def what(self) -> Drawn:
        """What it shows, for the texts: the same facts without the pixels."""
        return Drawn(self.seed_id, self.morph_to, self.kind, self.tone, self.closest,
                     self.classes, self.style)

    @property
    def media(self) -> Media:
        return Media(self.data, self.mime, self.alt_text)

    @property
    def latent(self) -> Latent:
        """Where it was drawn from (a morph: where it starts): z in its classes."""
        return Latent(tuple(self.z), self.classes)


@dataclass
class ArtistOptions:
    sigma: float = 0.5
    preserve_norm: bool = False
    upscale: int | None = None  # None: to REPLY_SIZE px (4x a 64 px picture, 2x a 128 px one)
    resample: str = "lanczos"
    device: str = "auto"
    best_of: int = 8  # candidates per picture, the discriminator's favourite is sent
    variation_sigma: float = 0.6  # "more like this": four apart, each near the picture
    morph_frames: int = MORPH_FRAMES  # pictures from start to end; the GIF goes there and back
    morph_ms: int = MORPH_MS  # per frame: (2 * frames - 2) * ms stays within 2 s
    png_level: int = PNG_LEVEL  # zlib level of the reply PNGs (a benchmark lever, no setting)


class Artist:
    def __init__(self, weights_dir: Path, seeds_path: Path, options: ArtistOptions):
        self.options = options
        self.sampler = Sampler.load(weights_dir, options.device)
        reason = unservable_reason(self.sampler.card)
        if reason is not None:
            raise UserError(f"weights in {weights_dir} cannot be served: {reason}")
        self.seeds: SeedBook = load_seeds(seeds_path, self.sampler.z_dim)
        # a few pictures before any is sent: broken weights or seeds draw black squares
        check_drawing(self.sampler, self.seeds, weights_dir, seeds_path)
        self.weights_dir, self.seeds_path = weights_dir, seeds_path
        table = load_kinds()
        self.vocabulary = Vocabulary.build(table.kinds, table.tones)
        # The guard: best of k by the discriminator, when the weights ship one.
        self.guard = load_guard(weights_dir, self.sampler.device) if options.best_of > 1 else None
        if options.best_of > 1 and self.guard is None:
            log.info("no discriminator in %s: each picture is the first of its candidates "
                     "(no best-of-%d guard)", weights_dir, options.best_of)
        if not self.seeds.seeds:
            log.warning("no good seeds in %s: drawing from the plain prior, which gives "
                        "more odd pictures; curate seeds with python -m model.explore",
                        seeds_path)

    @property
    def seed_ids(self) -> frozenset[int]:
        return frozenset(s.id for s in self.seeds.seeds)

    def label(self, seed_id: int | None) -> Label:
        """The label of a good seed (an empty one: no such seed, or not labelled)."""
        seed = self.seeds.get(seed_id) if seed_id is not None else None
        return seed.label if seed is not None and seed.label is not None else Label()

    def latent_of(self, picture: Picture) -> Latent:
        """Where a sent picture was drawn from: its latent in the classes kept with it. A
        label set it has none for (sent before the state file kept classes, or drawn by a
        generator without that set: style, say) is its seed's label's, what it was asked and
        drawn as; with no labelled seed either, the latent's own."""
        seed = self.seeds.get(picture.seed_id) if picture.seed_id is not None else None
        kept = label_names(seed.label if seed is not None else None)
        return Latent(tuple(picture.z), {**kept, **(picture.classes or {})})

    def _shown(self, served: Served) -> Label:
        """What a picture shows, for its alt text: the kind and tone a conditional generator
        drew it in, else (unconditional) its seed's label."""
        label, drawn = self.label(served.seed_id), served.classes
        return replace(label, kind=drawn.get("kind", label.kind),
                       tone=drawn.get("tone", label.tone),
                       style=drawn.get("style", label.style))

    def closest_kinds(self, kind: str, n: int = 3) -> tuple[str, ...]:
        """Kinds the seeds can draw, those of the asked kind's subgroup first, then those
        with the most seeds: what to offer someone who asked for a kind there is no seed of."""
        counts = self.seeds.kinds()
        subgroup = self.vocabulary.subgroups.get(kind, "")
        ranked = sorted((k for k in counts if k and k != kind),
                        key=lambda k: (self.vocabulary.subgroups.get(k) != subgroup,
                                       -counts[k], k))
        return tuple(ranked[:n])

    def _options(self, sigma: float) -> ServeOptions:
        o = self.options
        return ServeOptions(sigma, o.preserve_norm, o.best_of)

    def _scale(self, side: int) -> int:
        return self.options.upscale or max(1, REPLY_SIZE // side)

    def _picture(self, served: Served, sigma: float, alt: str, label: Label,
                 closest: tuple[str, ...] = ()) -> Drawing:
        scale = self._scale(served.image.shape[-1])
        png = render_png(served.image, scale, self.options.resample, self.options.png_level)
        return Drawing(png, "image/png", alt, served.seed_id, served.image.shape[-1] * scale,
                       served.z.tolist(), sigma, kind=label.kind, tone=label.tone,
                       closest=closest, classes=served.classes, style=label.style)

    def draw(self, request_id: str, seed_id: int | None = None, lang: str = "en",
             kind: str | None = None, tone: str | None = None) -> Drawing:
        """The picture for a request (deterministic given its id), as PNG bytes: near a good
        seed (seed_id, or one picked by the request id among the seeds of the kind and tone
        asked for); its alt text in `lang`, naming what it shows."""
        if seed_id is not None and self.seeds.get(seed_id) is None:
            known = id_ranges([s.id for s in self.seeds.seeds])
            raise ValueError(f"no seed #{seed_id} in {self.seeds_path} (known: {known})")
        sigma = self.options.sigma
        served = serve(self.sampler, self.seeds, request_id, self._options(sigma), self.guard,
                       seed_id, kind=kind, tone=tone)
        label = self._shown(served)
        closest = self.closest_kinds(kind) if kind and label.kind != kind else ()
        alt = alt_text(served.seed_id, sigma, lang, label.kind, label.tone, self.vocabulary,
                       label.style)
        return self._picture(served, sigma, alt, label, closest)

    def draw_near(self, request_id: str, at: Latent, n: int, sigma: float,
                  seed_id: int | None = None, lang: str = "en") -> list[Drawing]:
        """n pictures near a picture (variations of one somebody liked: its latent in its
        classes, latent_of), each the guard's best of its own candidates, in one batch."""
        if len(at.z) != self.sampler.z_dim:
            raise ValueError(f"a latent of {len(at.z)} numbers, the generator takes "
                             f"{self.sampler.z_dim}")
        # Each picture is the guard's best of its own best_of candidates, as a reply is: at a
        # noise that makes four visibly different pictures (README, python -m bot.variety)
        # there is as much to filter as around a seed; sharing one reply's candidates (two
        # each) sent broken faces. Four pictures cost four replies' drawing.
        o = self.options
        each = o.best_of
        served = serve_near(self.sampler, at, request_id, n,
                            ServeOptions(sigma, o.preserve_norm, each), self.guard, seed_id)
        label = self._shown(served[0])  # all n in the picture's classes: its kind, kept
        return [self._picture(s, sigma, variation_alt_text(i + 1, n, sigma, lang, label.kind,
                                                           label.tone, self.vocabulary,
                                                           label.style), label)
                for i, s in enumerate(served)]

    def morph(self, request_id: str, at: Latent, seed_id: int | None,
              lang: str = "en") -> Drawing:
        """An animated GIF from a picture (its latent in its classes, latent_of) to another
        good seed in that seed's classes (picked by the request id) and back, at most 2 s,
        at the reply size."""
        o = self.options
        others = [s for s in self.seeds.seeds if s.id != seed_id] or self.seeds.seeds
        rng = request_rng(request_id)
        if others:
            target = others[int(torch.randint(len(others), (1,), generator=rng))]
            end, morph_to = target.latent(), target.id
        else:  # no seeds: somewhere else on the prior, in its own classes
            end, morph_to = Latent.of(torch.randn(self.sampler.z_dim, generator=rng)), None
        frames = morph_frames(self.sampler, at, end, o.morph_frames)  # (F, C, S, S)
        side = frames.shape[-1]
        scale = min(self._scale(side), MORPH_SIZE // side) or 1
        gif = to_gif(frames, scale, o.morph_ms, resample=o.resample)
        return Drawing(gif, "image/gif", morph_alt_text(seed_id, morph_to, lang), seed_id,
                       side * scale, list(at.z), 0.0, morph_to,
                       classes=at.drawn(self.sampler.cond).classes)

