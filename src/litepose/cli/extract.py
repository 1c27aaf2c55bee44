"""``litepose extract SUPERNET --arch ARCH -o subnet.pt``: a standalone sub-network of a supernet.

The sub-network's weights are the supernet's leading slices (the official ``weight_transfer``); the file
is the project format (arch embedded, the supernet's skeleton), so ``litepose.load``, ``predict``,
``eval`` and ``train`` (``init.backbone`` or fine-tuning) take it directly. An arch outside the
supernet's search space is refused with the field named.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "extract a sub-network of a supernet checkpoint as a standalone LitePose model"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("supernet", type=Path, help="supernet checkpoint (litepose train with model.supernet, "
                                                     "or an official supernet file)")
    parser.add_argument("--arch", required=True,
                        help="the sub-network: an official arch JSON (e.g. search's best_arch.json) or a zoo name")
    parser.add_argument("--joints", type=int, default=None,
                        help="joint count of an official supernet file (default: read from it)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output .pt file")


def run(args: argparse.Namespace) -> int:
    from litepose.io import check_output_file
    from litepose.models.checkpoint import save
    from litepose.models.supernet import load_supernet
    from litepose.models.zoo import get_arch
    from litepose.skeleton import get_skeleton

    inputs = [args.supernet] + ([Path(args.arch)] if Path(args.arch).is_file() else [])
    check_output_file(args.output, inputs=inputs, option="--output")
    arch = get_arch(args.arch)
    loaded = load_supernet(args.supernet, args.joints)
    if loaded.space is not None:
        loaded.space.check(arch, source=f"--arch {args.arch}")
    loaded.model.check_arch(arch, source=f"--arch {args.arch}")
    net = loaded.model.eval().extract(arch)
    skeleton = loaded.skeleton
    if skeleton is None:
        try:
            skeleton = get_skeleton(net.num_keypoints)
        except ValueError:
            skeleton = None
    save(net, args.output, skeleton=skeleton,
         meta={"extracted_from": str(args.supernet), "arch_name": arch.name, "input_size": arch.input_size})
    print(f"wrote {args.output} ({arch.name}, input {arch.input_size}, {net.num_keypoints} keypoints, "
          f"{sum(p.numel() for p in net.parameters()):,} params)")
    return 0
