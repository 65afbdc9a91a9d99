"""The flags of `python -m model.train`, each declared once, as a field of Flags.

A field's name, type, default and metadata are its argparse declaration (`--z-dim` for
z_dim; an int, float or Path is converted; a bool is a switch), and the same metadata says
what it overrides: `sets` names TrainConfig fields (dotted into GANConfig), `limits` a
RunLimits field of the same name. Parsing and config_from_args both read this table, so a
new option is one new field here. A config flag defaults to None: unset means the preset's
value, or the checkpoint's when resuming, which may differ from TrainConfig's own default.
"""

from __future__ import annotations

import argparse
import types
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, get_type_hints

from model.device import AMP_CHOICES
from model.errors import UserError
from model.nets.augment import parse_policy
from model.nets.config import IMAGE_SIZES, GANConfig
from model.train.cond import LABEL_SETS, parse_cond, parse_ramp
from model.train.options import LOSSES, PRESETS, RunLimits, TrainConfig, preset_config


def flag(help: str | None = None, *, sets: tuple[str, ...] = (), limits: bool = False,
         parse: Callable[[Any], Any] | None = None, positive: bool = False,
         choices: tuple[Any, ...] | None = None) -> dict[str, Any]:
    """A field's flag: its help; what it sets (TrainConfig paths, or the RunLimits field of
    its name); parse, applied before it is set (a ValueError or UserError is the user's);
    positive, refused at zero or below before anything is read."""
    return {"help": help, "sets": sets, "limits": limits, "parse": parse, "positive": positive,
            "choices": choices}


def non_negative(name: str) -> Callable[[Any], Any]:
    def parse(value: Any) -> Any:
        if value < 0:
            raise UserError(f"{name} must be 0 or more, got {value}")
        return value
    return parse


def held_out_share(value: float) -> float:
    if not 0 <= value < 1:
        raise UserError(f"--held-out must be a share in [0, 1), got {value}")
    return value


def top_k_share(value: float) -> float:
    if not 0 < value <= 1:
        raise UserError(f"--top-k must be a share in (0, 1], got {value}")
    return value


@dataclass(frozen=True)
class Flags:
    """What the command line asked for, in the order --help lists it."""

    data: str = field(metadata=flag(
        "a folder of images, emoji-people (the small Noto font set) or emoji-styles (three "
        "flat styles rendered from their vectors at --image-size)", sets=("data",)))
    out: Path = field(metadata=flag("the run folder"))
    preset: str | None = field(default=None, metadata=flag(
        "default: default", choices=PRESETS))
    loss: str | None = field(default=None, metadata=flag(
        "default: the preset's", choices=LOSSES))
    z_dim: int | None = field(default=None, metadata=flag(sets=("gan.z_dim",), positive=True))
    image_size: int | None = field(default=None, metadata=flag(
        sets=("gan.image_size",), choices=IMAGE_SIZES))
    width: int | None = field(default=None, metadata=flag(
        f"ngf = ndf (default {GANConfig.g_width})", sets=("gan.g_width", "gan.d_width"),
        positive=True))
    d_norm: str | None = field(default=None, metadata=flag(
        "D's normalisation (default: the preset's; batch is FastGAN's own D)",
        sets=("gan.d_norm",), choices=("batch", "layer", "none")))
    augment: str | None = field(default=None, metadata=flag(
        "DiffAugment ops, e.g. color,translation,cutout, or none", sets=("augment",),
        parse=parse_policy))
    ema: float | None = field(default=None, metadata=flag(
        "EMA beta; 0 turns it off", sets=("ema_beta",)))
    batch: int | None = field(default=None, metadata=flag(
        f"global batch (default {TrainConfig.batch})", sets=("batch",), positive=True))
    lr: float | None = field(default=None, metadata=flag(
        "learning rate of both G and D", sets=("lr_g", "lr_d")))
    seed: int | None = field(default=None, metadata=flag(sets=("seed",)))
    top_k: float | None = field(default=None, metadata=flag(
        "top-k training: the smallest share of fakes G learns from, reached by "
        f"{TrainConfig.top_k_gamma:g} per epoch (e.g. 0.5; default {TrainConfig.top_k:g}: off)",
        sets=("top_k",), parse=top_k_share))
    lecam: float | None = field(default=None, metadata=flag(
        "LeCam regularisation weight in D's loss (Tseng et al. 2021; default 0: off)",
        sets=("lecam",), parse=non_negative("--lecam")))
    mbstd: int | None = field(default=None, metadata=flag(
        "minibatch standard deviation in D over groups of this size (e.g. 4; default 0: off)",
        sets=("gan.mbstd_group",), parse=non_negative("--mbstd")))
    held_out: float | None = field(default=None, metadata=flag(
        "train without this share of base emoji (all their skin tones), the held-out part "
        "of the memorisation test (e.g. 0.2; default 0: all images)", sets=("held_out",),
        parse=held_out_share))
    cond: str | None = field(default=None, metadata=flag(
        "an experiment: condition G and D on these label sets of the built-in data's file "
        "names, comma-separated (subgroup: " + ", ".join(LABEL_SETS["subgroup"]) + "; kind: "
        f"the {len(LABEL_SETS['kind'])} kinds of model/data/kinds.json; tone: the default "
        "yellow and the five skin tones; style: " + ", ".join(LABEL_SETS["style"]) + ", "
        "emoji-styles only), e.g. subgroup,tone or kind,tone,style; fastgan only "
        "(--preset fastgan); default none: unconditional", sets=("gan.cond",),
        parse=parse_cond))
    cond_ramp: str | None = field(default=None, metadata=flag(
        "START,END in kimg: the conditioning's weight grows linearly from 0 at START to 1 at "
        f"END, training unconditional before (Shahbazi et al. 2022; default "
        f"{','.join(f'{v:g}' for v in TrainConfig.cond_ramp)})", sets=("cond_ramp",),
        parse=parse_ramp))
    init_from: Path | None = field(default=None, metadata=flag(
        "fine-tune: start from the weights of the run in this folder (its ckpt.pt: G, D, "
        "EMA), with fresh optimisers and counts; layers it lacks (--cond's class embeddings) "
        "start fresh. E.g. a --cond run from an unconditional one, or your own pictures "
        "from a run on emoji-people", sets=("init_from",), parse=str))
    kimg: float | None = field(default=None, metadata=flag(
        f"stop after this many thousand real images (default {RunLimits.kimg:g})",
        limits=True, positive=True))
    minutes: float | None = field(default=None, metadata=flag(
        "stop after this wall time", limits=True, positive=True))
    ckpt_minutes: float = field(default=RunLimits.ckpt_minutes, metadata=flag(limits=True))
    resume: bool = field(default=False, metadata=flag("continue the run in --out"))
    force: bool = field(default=False, metadata=flag(
        "start a new run in --out even if it holds a checkpoint or exported weights, "
        "overwriting them"))
    device: str = field(default="auto", metadata=flag("auto, cpu or cuda"))
    amp: str = field(default="auto", metadata=flag(
        "bf16 autocast: auto uses it where the hardware runs bf16 natively (CUDA with bf16, "
        "CPUs with AVX512-BF16 or AMX) and fp32 elsewhere", choices=AMP_CHOICES))
    channels_last: bool | None = field(default=None, metadata=flag(
        "NHWC memory format (default: on for dcgan, where it is faster on CPU and GPU; off "
        "for fastgan, whose BatchNorm backward runs 3-4x slower in NHWC on CPU)"))
    cache_dir: Path | None = field(default=None, metadata=flag())
    dry_run: bool = field(default=False, metadata=flag(
        "a few steps on a handful of images, every output written", limits=True))


def add_flags(parser: argparse.ArgumentParser) -> None:
    """One argparse argument per field of Flags."""
    hints = get_type_hints(Flags)
    for f in fields(Flags):
        kind = _base_type(hints[f.name])
        kwargs: dict[str, Any] = {"help": f.metadata["help"]}
        if f.default is MISSING:
            kwargs["required"] = True
        else:
            kwargs["default"] = f.default
        if kind is bool:  # a switch; one that is on by default can be turned off
            # a switch with no default (None: the preset decides) can be set either way
            kwargs["action"] = (argparse.BooleanOptionalAction if f.default is not False
                                else "store_true")
        elif kind is not str:
            kwargs["type"] = kind
        if f.metadata["choices"] is not None:
            kwargs["choices"] = f.metadata["choices"]
        parser.add_argument("--" + f.name.replace("_", "-"), **kwargs)


def _base_type(hint: Any) -> type:
    """int for `int | None`; the type itself otherwise."""
    if isinstance(hint, types.UnionType):
        [hint] = [t for t in hint.__args__ if t is not type(None)]
    return hint


def check_positive(args: Flags) -> None:
    for f in fields(Flags):
        value = getattr(args, f.name)
        if f.metadata["positive"] and value is not None and value <= 0:
            raise UserError(f"--{f.name.replace('_', '-')} must be positive, got {value}")


def config_from_args(args: Flags, saved: dict[str, Any] | None) -> TrainConfig:
    """Flags over the preset's values; when resuming, flags over the checkpoint's values."""
    if saved is not None and args.preset is None and args.loss is None:
        cfg = TrainConfig.from_dict(saved)
    else:
        cfg = preset_config(args.preset or "default", args.data, args.loss)
    for f in fields(Flags):
        value = getattr(args, f.name)
        if value is None or not f.metadata["sets"]:
            continue
        if f.metadata["parse"] is not None:
            value = f.metadata["parse"](value)
        for path in f.metadata["sets"]:
            cfg = _set(cfg, path, value)
    if args.cond_ramp is not None and not cfg.gan.cond:
        raise UserError("--cond-ramp shapes the ramp of class conditioning, which is off; "
                        "add --cond subgroup,tone or drop --cond-ramp")
    if cfg.gan.cond and cfg.gan.arch != "fastgan":
        raise UserError(f"--cond conditions the fastgan architecture only, and the "
                        f"{cfg.preset} preset is {cfg.gan.arch}; add --preset fastgan")
    if args.dry_run:
        cfg = replace(cfg, batch=min(cfg.batch, 8))
    return cfg


def _set(obj: Any, path: str, value: Any) -> Any:
    """A copy of the frozen dataclass obj with the dotted field path set to value."""
    name, _, rest = path.partition(".")
    return replace(obj, **{name: _set(getattr(obj, name), rest, value) if rest else value})


def limits_from_args(args: Flags, cfg: TrainConfig) -> RunLimits:
    """The limits the flags set; --kimg's default gives way to a --minutes budget."""
    given = {f.name: getattr(args, f.name) for f in fields(Flags) if f.metadata["limits"]}
    if args.dry_run:
        given["kimg"] = cfg.batch * 4 / 1000  # four steps
    elif args.kimg is None and args.minutes is None:
        del given["kimg"]  # RunLimits' default
    # otherwise --kimg as given, or None (no image limit) when --minutes alone decides
    return RunLimits(**given)
