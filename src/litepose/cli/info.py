"""``litepose info``: parameters and MACs of zoo models of every family (true MACs and the paper's convention)."""

from __future__ import annotations

import argparse
import json

HELP = "print params / MACs of the zoo's models (true MACs and the paper's MAC convention)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help="zoo names, arch files or project checkpoints (default: the whole zoo: LitePose and "
                             "the HigherHRNet baselines)")
    parser.add_argument("--input-size", type=int, default=None,
                        help="square input side (default: each model's own input size)")
    parser.add_argument("--joints", type=int, default=14, help="number of keypoints (14 CrowdPose, 17 COCO)")
    parser.add_argument("--width", type=float, default=1.0, help="uniform width multiplier (LitePose only)")
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of a table")


def run(args: argparse.Namespace) -> int:

    from litepose.models.profile import profile_model
    from litepose.models.zoo import create_model, list_models

    rows = []
    for name in args.names or list_models():
        model = create_model(name, args.joints, width=args.width, input_size=args.input_size)
        size = model.spec.input_size
        c = profile_model(model, size)
        rows.append({"name": name if args.width == 1.0 else model.spec.name, "num_keypoints": args.joints,
                     "input_size": size, "params": c.params, "macs": c.macs, "macs_paper": c.macs_paper})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    wide = max(16, *(len(r["name"]) + 2 for r in rows))
    header = f"{'name':<{wide}}{'joints':>7}{'input':>8}{'params':>13}{'MACs (true)':>14}{'MACs (paper)':>15}"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['name']:<{wide}}{r['num_keypoints']:>7}{r['input_size']:>8}{r['params']:>13,}"
              f"{r['macs'] / 1e9:>13.3f}G{r['macs_paper'] / 1e9:>14.3f}G")
    print("true MACs: conv/deconv multiply-accumulates; paper MACs: the official counting rule "
          "(BN and ReLU counted, deconv over output pixels)")
    return 0
