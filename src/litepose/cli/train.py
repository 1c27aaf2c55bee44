"""``litepose train CONFIG.yaml [--set key=value ...] [--resume PATH] [--output DIR]``.

Several GPUs or nodes: ``torchrun --nproc_per_node N -m litepose train CONFIG.yaml`` (no other change).
"""

from __future__ import annotations

import argparse
import sys

HELP = "train a LitePose model from a YAML config (resumable; torchrun for several GPUs)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", nargs="?", default=None,
                        help="training config YAML (e.g. configs/crowdpose/litepose-xs.yaml); without it the "
                             "defaults plus --set are used, and --resume reuses the checkpoint's config")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, typed by its field (repeatable), e.g. --set optim.lr=1e-3 "
                             "--set optim.milestones=[50,180]")
    parser.add_argument("--resume", metavar="PATH",
                        help="continue a run from its last.pt (a checkpoint file or the run folder)")
    parser.add_argument("--output", metavar="DIR", help="run folder (overrides train.output_dir)")
    parser.add_argument("--skip-bad", action="store_true",
                        help="skip bad annotations and unreadable images (counted) instead of stopping "
                             "(same as --set data.skip_bad=true)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (log lines only)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from litepose.cli import CliError
    from litepose.training.checkpoint import load_training_checkpoint, resolve_resume_path
    from litepose.training.config import apply_overrides, config_from_dict, config_to_dict, load_config
    from litepose.training.distributed import PeerFailed
    from litepose.training.trainer import TrainingDiverged, fit

    if args.config is None and args.resume is None and not args.overrides:
        raise CliError("give a CONFIG.yaml to start a run (or --set the data paths on the defaults), "
                       "or --resume PATH to continue one")
    overrides = list(args.overrides) + (["data.skip_bad=true"] if args.skip_bad else [])
    resume_path = None
    if args.resume is not None:
        resume_path = resolve_resume_path(args.resume)
        ckpt_cfg = config_from_dict(load_training_checkpoint(resume_path)["config"],
                                    source=f"{resume_path} (stored config)")
        if args.config is None:
            cfg = apply_overrides(ckpt_cfg, overrides)
        else:
            cfg = load_config(args.config, overrides)
            mine, stored = config_to_dict(cfg), config_to_dict(ckpt_cfg)
            mine["train"].pop("output_dir")
            stored["train"].pop("output_dir")
            if mine != stored:
                print(f"note: {args.config} differs from the config stored in {resume_path}; using {args.config}",
                      file=sys.stderr)
        # Continue in the folder the checkpoint lives in unless told otherwise.
        output = args.output or str(resume_path.parent)
        cfg = apply_overrides(cfg, [f"train.output_dir={output}"])
    else:
        cfg = load_config(args.config, overrides)
        if args.output:
            cfg = apply_overrides(cfg, [f"train.output_dir={args.output}"])

    try:
        result = fit(cfg, resume=resume_path, progress=not args.no_progress)
    except TrainingDiverged as err:
        print(f"litepose train: {err}", file=sys.stderr)
        return 3
    except PeerFailed:  # another torchrun process failed and printed why: one message, not one per process
        return 2
    if result.is_main and Path(result.last).is_file():
        print(f"run folder: {result.run_dir}")
        print(f"  last checkpoint: {result.last} ({result.epochs} epochs, {result.global_step} steps)")
        if result.best is not None:
            print(f"  best checkpoint: {result.best} (val AP {result.best_metric:.4f})")
        print(f"  metrics: {result.run_dir / 'metrics.csv'}, curves: {result.run_dir / 'curves.png'}")
    return 0
