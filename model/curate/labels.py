"""Labels from the data: each picture's kind, subgroup and skin tone from its nearest training
picture, and the labelling of a seeds file's unlabelled seeds.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from model.data.kinds import Label
from model.errors import UserError
from model.serve.sampler import Sampler
from model.serve.seeds import load_seeds, save_seeds


def labels_of(pictures: torch.Tensor, data: str, cache_dir: Path | None = None
              ) -> list[Label]:
    """The label of each picture: that of its nearest training picture (pixel L2 at the
    pictures' size), its file name the source ("nearest 0123_person-role_1F469-....png").

    For emoji-people the file name says the emoji: its kind, subgroup and tone
    (model/data/kinds.json). For a folder of images the kind is the picture's sub-folder ("" at
    the top), with no subgroup or tone. Pixels, not model.evaluate.features' random-net
    features: on 32 pictures of the shipped weights the two labels differed on 18 (on the kind
    11), and by eye each picked the better neighbour 4 times (the rest alike or both wrong), so
    the cheaper pixels stay."""
    from model.data.emoji import BUILTIN
    from model.data.images import default_cache_dir, list_images, load_dataset
    from model.data.kinds import load_kinds
    from model.data.vectors import BUILTIN_STYLES

    size = pictures.shape[-1]
    ds = load_dataset(data, size, cache_dir)
    builtin = {BUILTIN: BUILTIN, BUILTIN_STYLES: f"{BUILTIN_STYLES}-{size}"}
    root = ((cache_dir or default_cache_dir()) / builtin[data] if data in builtin
            else Path(data))
    names = list(ds.names) if ds.names is not None else [
        p.relative_to(root).as_posix() for p in list_images(root)]
    if len(names) != len(ds):
        raise UserError(f"{data} changed while it was read; run again")
    kinds = load_kinds()
    ref = ds.images.reshape(len(ds), -1).float()  # (N, D)
    out = []
    for chunk in pictures.reshape(len(pictures), -1).float().split(256):  # (c, D)
        for i in torch.cdist(chunk, ref).argmin(dim=1).tolist():
            source = f"nearest {names[i]}"
            emoji = kinds.label_of_file(names[i]) if data in builtin else None
            folder = names[i].rpartition("/")[0]
            out.append(replace(emoji, source=source) if emoji is not None
                       else Label(folder, "", "", source))
    return out


def drawn_labels(sampler: Sampler, z: torch.Tensor, pictures: torch.Tensor, data: str | None,
                 cache_dir: Path | None = None) -> list[Label]:
    """The label of each latent's picture. A generator conditioned on kind draws each latent
    in classes of its own (model.nets.fastgan.latent_classes), and those are its label: the
    kind (and its subgroup) and, when it is conditioned on tone too, the tone ("class
    kind,tone" the source); a tone it is not conditioned on comes from the nearest picture.
    Any other generator: labels_of, the nearest training picture's."""
    cond = sampler.cond
    if "kind" not in cond:
        if data is None:
            raise UserError("labels need the training data (--data) of an unconditional "
                            "generator")
        return labels_of(pictures, data, cache_dir)
    from model.data.kinds import load_kinds
    from model.nets.fastgan import latent_classes

    nearest = (labels_of(pictures, data, cache_dir) if "tone" not in cond and data
               else [Label()] * len(z))
    classes = latent_classes(z.float().cpu(), tuple(len(c) for c in cond.values()))
    names = list(cond)
    kinds = load_kinds()
    out = []
    for row, near in zip(classes.tolist(), nearest, strict=True):
        drawn = {name: cond[name][row[i]] for i, name in enumerate(names)}
        kind = kinds.get(drawn["kind"])
        tone = drawn.get("tone", near.tone)
        out.append(Label(drawn["kind"], kind.subgroup if kind else "", tone,
                         "class " + ",".join(n for n in names if n in ("kind", "tone",
                                                                       "style")),
                         drawn.get("style", near.style)))
    return out


def kinds_of(pictures: torch.Tensor, data: str, cache_dir: Path | None = None) -> list[str]:
    """The kind of each picture (labels_of), "all" for one nearest a top-level file."""
    return [label.kind or "all" for label in labels_of(pictures, data, cache_dir)]


def describe(label: Label) -> str:
    """One label in a line: 'cook (person-role), medium-dark, nearest 0123_....png'."""
    return (f"{label.kind or '-'} ({label.subgroup or 'no subgroup'}), "
            f"{label.tone or 'default tone'}, {label.source}")


def label_seeds(weights: Path, data: str | None, seeds_path: Path, device: str) -> int:
    """Label the seeds that have no label by the nearest training picture to the picture of
    the seed itself (the generator at its z, no noise), or by the classes it draws in for a
    generator conditioned on kind (drawn_labels); labelled seeds are left as they are."""
    sampler = Sampler.load(weights, device)
    book = load_seeds(seeds_path, sampler.z_dim)
    todo = [s for s in book.seeds if s.label is None]
    if not todo:
        print(f"all {len(book.seeds)} seeds in {seeds_path} are labelled; nothing to do")
        return 0
    data = data or (sampler.card.get("data") or {}).get("source")
    if not data and not {"kind", "tone"} <= set(sampler.cond):
        raise UserError(f"the card of {weights} does not say what it was trained on; give "
                        "--data (emoji-people or the folder)")
    z = torch.stack([s.tensor() for s in todo])
    pictures = sampler.generate(z)
    for seed, label in zip(todo, drawn_labels(sampler, z, pictures, data), strict=True):
        seed.label = label
        print(f"seed #{seed.id}: {describe(label)}")
    save_seeds(seeds_path, book)
    print(f"labelled {len(todo)} seeds in {seeds_path} (previous file kept as "
          f"{seeds_path.name}.bak); {len(book.seeds) - len(todo)} already had a label")
    return 0
