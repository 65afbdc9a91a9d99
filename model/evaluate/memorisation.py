"""The held-out memorisation test: is the generator copying training images? Pure tensor code.

``heldout_memorisation`` compares each sample's distance to the nearest training image with the
same distance for the images of a held-out split (whole groups: model.data.split). Those images
are new to the model only if it trained with that split (``--held-out``); a run on every image,
like the shipped weights, has seen them too, and the test then undercounts copies (see its
docstring for the exact numbers).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from model.evaluate.prdc import DISTANCE_CHUNK, check_features, check_same_dim
from model.evaluate.swd import check_images, check_same_size

# Memorisation distances are pixel L2 at this size (area-averaged): see heldout_memorisation.
MEMORISATION_SIZE = 32


@dataclass(frozen=True)
class HeldOutResult:
    """The held-out memorisation test; see heldout_memorisation."""

    share: float  # samples nearer a training image than all but `quantile` of held-out images
    median_ratio: float  # median sample distance / median held-out distance (to training)
    threshold: float  # the held-out distance at `quantile`
    heldout_median: float  # the median held-out distance
    quantile: float
    samples: int
    train: int  # reference points, mirrored copies included
    heldout: int


def _nearest_sq_distances(query: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Squared L2 distance from each query row to its nearest ref row; (Q, D), (R, D) -> (Q,).

    Chunked |q|^2 + |r|^2 - 2 q.r (one matmul per chunk) so memory stays at chunk x R numbers,
    in the inputs' dtype. Rounding can make exact duplicates slightly negative, hence the clamp.
    """
    ref_sq = ref.square().sum(dim=1)  # (R,)
    out = torch.empty(query.shape[0], dtype=query.dtype)
    for start in range(0, query.shape[0], DISTANCE_CHUNK):
        q = query[start : start + DISTANCE_CHUNK]  # (c, D)
        d2 = q.square().sum(dim=1, keepdim=True) + ref_sq - 2.0 * (q @ ref.T)  # (c, R)
        out[start : start + q.shape[0]] = d2.min(dim=1).values.clamp_min(0.0)
    return out


def heldout_memorisation_features(
    generated: torch.Tensor, train: torch.Tensor, heldout: torch.Tensor, quantile: float = 0.05
) -> HeldOutResult:
    """The held-out test on features: generated (M, D), train (N, D), heldout (H, D), floating.

    d(x) is the Euclidean distance from x to its nearest train row. The threshold is the
    ``quantile`` (linear interpolation) of d over the held-out rows. ``share`` is the fraction
    of generated rows with d < threshold; ``median_ratio`` is median d(generated) / median
    d(heldout). Held-out rows themselves score share ~quantile and ratio 1.
    """
    for name, x in (("generated", generated), ("train", train), ("heldout", heldout)):
        check_features(x, name)
    check_same_dim(generated, train, "generated and train")
    check_same_dim(heldout, train, "heldout and train")
    if isinstance(quantile, bool) or not isinstance(quantile, float | int) or not (
            0.0 < quantile < 1.0):
        raise ValueError(f"quantile must be between 0 and 1, got {quantile!r}")
    with torch.inference_mode():
        ref = train.cpu().double()  # (N, D)
        held = _nearest_sq_distances(heldout.cpu().double(), ref).sqrt()  # (H,)
        gen = _nearest_sq_distances(generated.cpu().double(), ref).sqrt()  # (M,)
        threshold = torch.quantile(held, float(quantile)).item()
        held_median = held.median().item()
        share = (gen < threshold).double().mean().item()
        # a held-out set that is all copies of training rows leaves nothing to compare with
        ratio = gen.median().item() / held_median if held_median > 0 else float("inf")
    return HeldOutResult(share, ratio, threshold, held_median, float(quantile),
                         generated.shape[0], train.shape[0], heldout.shape[0])


def memorisation_features(images: torch.Tensor) -> torch.Tensor:
    """The space memorisation is measured in: uint8 (N, 3, H, W) -> float (N, 3*32*32) in [0, 1],
    the images area-averaged to 32x32 (MEMORISATION_SIZE) pixels."""
    from model.evaluate.features import resize_images

    return resize_images(images.cpu(), MEMORISATION_SIZE).flatten(1).div_(255.0)


def heldout_memorisation(
    generated: torch.Tensor,
    train: torch.Tensor,
    heldout: torch.Tensor,
    *,
    quantile: float = 0.05,
    flips: bool = True,
) -> HeldOutResult:
    """Is the generator copying its training images? A test against the images of a held-out
    split (real, and unseen by the model only when it trained without them).

    generated (M, 3, H, W), train (N, 3, H, W), heldout (K, 3, H, W): uint8, one size. The
    held-out images are real pictures of the same kind, split from train by whole groups
    (model.data.split.heldout_mask: whole emoji, all skin tones together), so their distances are
    those of pictures that are not in the training split. Ideally the model never trained on
    them either (``--held-out``, the split by the same seed); when it
    did (model.train trains on every image), copies of held-out images go uncounted and a pure
    copier scores about (1 - 0.2) + 0.2 x 5 % = 81 % with the 20 % split instead of 100 %.

    For every image x, d(x) = distance to its nearest training image, including the training
    images mirrored left-right when ``flips`` (the trainer trains on mirrored images too). The
    numbers:

    - ``share``: the fraction of generated images with d below the 5th percentile
      (``quantile``) of the held-out images' d, i.e. closer to a training image than 95 % of
      genuinely new pictures are. A model that draws new pictures the way the data does scores
      ~5 % (the held-out baseline); one that copies training images scores ~100 %; well above
      5 % means some samples are (near) copies. Samples further away than new data (blurry or
      off the data) score ~0 %, which says nothing good about them: that is SWD's and
      precision's job.
    - ``median_ratio``: median d(generated) / median d(held-out): ~1 like new data, ->0 for
      copies, >1 for samples further from the training set than new pictures are.

    The distance is pixel L2 on the images area-averaged to 32x32, values in [0, 1]. Copying is
    a pixel-level question; at 32 px a copy the generator has blurred, noised or recoloured a
    little still sits far below the held-out baseline (on emoji-people a 3x3 blurred copy is
    caught ~98 % of the time, against ~13 % in the random conv features), and 64 and 128 px
    models are measured alike. Neither space catches copies shifted by a pixel or two; a GAN's
    copies come out where the training image was.
    """
    for name, x in (("generated", generated), ("train", train), ("heldout", heldout)):
        check_images(x, name)
    check_same_size(generated, train, "generated and train")
    check_same_size(heldout, train, "heldout and train")
    with torch.inference_mode():
        ref = torch.cat([train, train.flip(3)]) if flips else train
        return heldout_memorisation_features(
            memorisation_features(generated),
            memorisation_features(ref),
            memorisation_features(heldout),
            quantile=quantile,
        )
