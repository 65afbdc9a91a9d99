"""python -m bot kinds: every kind of person one can ask for, with its seeds.
"""

from __future__ import annotations

from bot.cli.parts import load_artist
from bot.conversation.texts import id_ranges
from bot.settings import Settings


def list_kinds(settings: Settings) -> int:
    """Every kind in the kinds table with its seeds' tones and numbers ("medium-dark #59": what
    "like #59" draws), kinds with seeds first: what an operator can promise people may ask
    for."""
    artist = load_artist(settings)
    by_kind: dict[str, list[tuple[str, int]]] = {}
    unlabelled: list[int] = []
    for seed in artist.seeds.seeds:
        if seed.label is None or not seed.label.kind:
            unlabelled.append(seed.id)
        else:
            by_kind.setdefault(seed.label.kind, []).append((seed.label.tone or "default",
                                                            seed.id))
    vocab = artist.vocabulary
    kinds = sorted(vocab.names, key=lambda k: (-len(by_kind.get(k, [])), vocab.subgroups[k], k))
    kinds += sorted(k for k in by_kind if k not in vocab.names)  # labels the table lacks
    print(f"{'kind':<24} {'subgroup':<16} {'seeds':>5}  tones and seed numbers")
    for kind in kinds:
        seeds = by_kind.get(kind, [])
        tones = sorted({tone for tone, _ in seeds}, key=_tone_order)
        shown = ", ".join(tone + "".join(f" #{i}" for t, i in sorted(seeds) if t == tone)
                          for tone in tones)
        print(f"{kind:<24} {vocab.subgroups.get(kind, '?'):<16} {len(seeds):>5}  {shown}")
    without = f" ({id_ranges(unlabelled)})" if unlabelled else ""
    print(f"{len(vocab.names)} kinds, {len(by_kind)} with seeds; {len(artist.seeds.seeds)} "
          f"seeds in {settings.seeds_file}, {len(unlabelled)} without a kind{without}")
    return 0


def _tone_order(tone: str) -> int:
    order = ("default", "light", "medium-light", "medium", "medium-dark", "dark")
    return order.index(tone) if tone in order else len(order)
