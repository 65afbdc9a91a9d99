"""Class conditioning for FastGAN with a transitional ramp (an opt-in experiment, issue 19).

Shahbazi et al., "Collapse by Conditioning: Training Class-conditional GANs with Limited Data"
(ICLR 2022): a class-conditional GAN trained on little data collapses, so training starts
unconditional and moves to conditional as lambda_t goes linearly from 0 to 1 between two
points of training (``--cond-ramp START,END`` in kimg). G gets lambda_t * (the sum of one
learned embedding per label set) added to z; D gets lambda_t * <embed(class), phi(x)> added to
its unconditional logit (the projection discriminator of Miyato & Koyama, 2018). The label
sets (``--cond subgroup,tone``, ``--cond kind,tone``) each have their own embedding and
projection, summed: 4 + 6 classes, not a 24-way product (55 + 6, not 330, for kind,tone).

Labels come from the built-in data's file names (model.data.kinds.Kinds.label_of_file): a folder of
one's own images is refused unless its files are named like the built-in set's.

lambda_t is a pure function of the images seen (cond_lambda): it is saved nowhere, so a resumed
run recomputes the same values. The networks hold it as a plain attribute, ``cond_lambda``
(not in their state_dict), that the trainer sets before every step and load_generator sets
from the card, so that callers that only hold a generator (grids, the guard, the explorer)
draw as training left it. The networks' side (the embeddings, the projection, the classes a
generator draws when given none) is in model.nets.fastgan.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace

import torch
from torch import nn

from model.data.emoji import PERSON_SUBGROUPS
from model.data.images import Dataset
from model.data.kinds import STYLES, TONES, load_kinds
from model.errors import UserError

# What each label set can condition on, in class-index order. "" is the default yellow (no
# skin-tone modifier), as in model.data.kinds.Label.
# "kind" is every kind of model/data/kinds.json (55: cook, vampire, ...), so that a seed's
# kind label is the class it is drawn in.
LABEL_SETS: dict[str, tuple[str, ...]] = {
    "subgroup": PERSON_SUBGROUPS,
    "kind": tuple(k.name for k in load_kinds().kinds),
    "tone": ("", *TONES),
    # the flat emoji style of the vector set (model.data.vectors: one folder per style)
    "style": STYLES,
}

Cond = tuple[tuple[str, tuple[str, ...]], ...]  # GANConfig.cond: (set name, class names)


def parse_cond(text: str) -> Cond:
    """--cond value ("subgroup,tone", "none") -> GANConfig.cond; UserError for a set that
    does not exist or is named twice."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if names in ([], ["none"]):
        return ()
    unknown = [n for n in names if n not in LABEL_SETS]
    if unknown:
        raise UserError(f"--cond: unknown label set {unknown[0]!r}; choose from "
                        f"{', '.join(LABEL_SETS)} (comma-separated) or none")
    if len(set(names)) != len(names):
        raise UserError(f"--cond names a label set twice: {text}")
    return tuple((n, LABEL_SETS[n]) for n in names)


def parse_ramp(text: str) -> tuple[float, float]:
    """--cond-ramp value "START,END" (kimg) -> (start, end), 0 <= start <= end."""
    try:
        start, end = (float(v) for v in text.split(","))
    except ValueError:
        raise UserError(f"--cond-ramp takes START,END in kimg (e.g. 20,100), got {text!r}"
                        ) from None
    if not 0 <= start <= end:
        raise UserError(f"--cond-ramp needs 0 <= START <= END, got {text!r}")
    return start, end


def cond_lambda(kimg: float, ramp: tuple[float, float]) -> float:
    """The weight of the conditioning after kimg thousand real images: 0 until ramp[0], 1
    from ramp[1] on, linear between (a step at START when START == END)."""
    start, end = ramp
    if kimg >= end:
        return 1.0
    if kimg <= start:
        return 0.0
    return (kimg - start) / (end - start)


def set_cond_lambda(modules: Iterable[nn.Module | None], value: float) -> None:
    """Set the ramp's value on every conditional network among modules (others, and None,
    are left alone)."""
    for module in modules:
        if module is not None and getattr(module, "cond", ()):
            module.cond_lambda = value


# ---------------------------------------------------------------- labels of the data


def labels_of_names(names: Iterable[str], cond: Cond, source: str) -> torch.Tensor:
    """File names -> (N, label sets) int64 class indices in cond's order; UserError naming
    the first file that is not named like the built-in set or has a class cond lacks."""
    kinds = load_kinds()
    rows = []
    for name in names:
        label = kinds.label_of_file(name)
        if label is None:
            raise UserError(f"--cond needs labelled images, but {source} holds {name!r}, not "
                            "named like the built-in set (0123_person-role_1F469-1F3FB-200D-"
                            "1F373.png); use --data emoji-people or drop --cond")
        row = []
        for set_name, classes in cond:
            value = getattr(label, set_name)
            if value not in classes:
                raise UserError(f"--cond {set_name}: {name!r} in {source} is {value!r}, not "
                                f"one of {', '.join(map(repr, classes))}; remove it or drop "
                                "--cond")
            row.append(classes.index(value))
        rows.append(row)
    return torch.tensor(rows, dtype=torch.int64).reshape(-1, len(cond))


def with_labels(data: Dataset, cond: Cond) -> Dataset:
    """The data set with each image's class indices (Dataset.labels) for cond."""
    if data.names is None:
        raise UserError(f"--cond needs the file names of {data.source}'s images; delete the "
                        "cache folder's entry for it (its names file is missing) and retry")
    return replace(data, labels=labels_of_names(data.names, cond, data.source))


def sample_labels(labels: torch.Tensor, n: int, generator: torch.Generator | None = None
                  ) -> torch.Tensor:
    """(N, k) data labels -> (n, k): the labels of n real images drawn at random (with
    replacement), so that fakes come in the data's class balance, joint over the sets."""
    if generator is None:  # the training stream, on the labels' device
        idx = torch.randint(labels.shape[0], (n,), device=labels.device)
    else:
        idx = torch.randint(labels.shape[0], (n,), generator=generator).to(labels.device)
    return labels[idx]


# ---------------------------------------------------------------- grids


def grid_classes(cond: Cond, n: int = 64, nrow: int = 8) -> torch.Tensor | None:
    """(n, k) classes for a grid of n pictures, nrow a row: the first label set changes from
    row to row, the second from column to column (rows of subgroups, columns of tones), any
    further set stays at its first class. A set with more classes than rows or columns
    (55 kinds) is sampled evenly across them, not its first few (which are all plain people).
    None for an unconditional config."""
    if not cond:
        return None
    i = torch.arange(n)
    spans = [math.ceil(n / nrow), nrow]
    columns = [i // nrow, i % nrow] + [torch.zeros_like(i)] * (len(cond) - 2)
    out = []
    for k, (c, (_, classes)) in enumerate(zip(columns, cond, strict=False)):
        span = spans[k] if k < 2 else 1
        out.append(c * len(classes) // span if len(classes) > span else c % len(classes))
    return torch.stack(out, dim=1)
