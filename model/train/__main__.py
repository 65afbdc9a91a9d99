"""Train a GAN on a folder of images or the built-in emoji people.

    python -m model.train --data emoji-people --out runs/emoji            # the default setup
    python -m model.train --data ~/pictures --out runs/mine --kimg 500
    python -m model.train --data emoji-people --out runs/emoji --resume   # continue exactly
    python -m model.train --data emoji-people --out runs/smoke --dry-run  # every output, seconds
    python -m model.train --data emoji-people --out runs/emoji --force    # start over there
    torchrun --nproc_per_node 4 -m model.train --data DIR --out runs/big  # data parallel

A run folder holds options.json, log.jsonl (one line per step), grids/ (fixed-noise samples at
each epoch), grid_final.png, losses.png, ckpt.pt (resume) and the export the bot loads:
generator.safetensors + generator.json. A folder that already holds a checkpoint or an export
is refused unless --resume (continue it) or --force (start over, overwriting it) is given.
"""

from __future__ import annotations

import argparse
import logging

from model.device import pick_device, use_bf16
from model.errors import UserError, run_cli
from model.train.flags import Flags, add_flags, check_positive, config_from_args, limits_from_args
from model.train.loop import train
from model.train.options import channels_last_default
from model.train.resume import refuse_finished_work
from model.train.state import CKPT_FILE, load_training_state


def parse_args(argv: list[str] | None) -> Flags:
    ap = argparse.ArgumentParser(prog="python -m model.train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_flags(ap)
    return Flags(**vars(ap.parse_args(argv)))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.resume and args.force:
        raise UserError("--resume continues the run in --out and --force starts it over; "
                        "give one of them")
    if not args.resume and not args.force:
        refuse_finished_work(args.out)
    check_positive(args)
    try:
        saved = load_training_state(args.out / CKPT_FILE)["config"] if args.resume else None
        cfg = config_from_args(args, saved)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    device = pick_device(args.device)
    amp = use_bf16(args.amp, device)
    try:
        card = train(cfg, args.out, limits_from_args(args, cfg), resume=args.resume,
                     force=args.force, device=device, amp=amp,
                     channels_last=(channels_last_default(cfg.gan)
                                    if args.channels_last is None else args.channels_last),
                     cache_dir=args.cache_dir)
    except KeyboardInterrupt:
        return 130
    if card is not None:
        swd = card["swd"]["mean"]
        print(f"exported {card['exported']} to {args.out}/generator.safetensors: "
              f"SWD {swd:.1f} x1e-3, memorisation {card['memorisation_share']:.1%}, "
              f"{card['images_seen'] / 1000:.1f} kimg in {card['train_seconds'] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    run_cli(main)
