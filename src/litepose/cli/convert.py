"""``litepose convert``: an official LitePose checkpoint to the project format (arch embedded).

``--output`` is checked before the checkpoint is read: it must be a writable file name and none of the
inputs (the checkpoint, an arch or skeleton file), else one line names it (exit code 2).
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "convert an official LitePose checkpoint (.pth/.pth.tar) to a self-describing litepose .pt file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", type=Path, help="official checkpoint file")
    parser.add_argument("--arch", required=True,
                        help="zoo name (litepose-xs|s|m|l) or the official arch JSON the weights were trained with")
    parser.add_argument("--joints", type=int, default=None,
                        help="14 (CrowdPose) or 17 (COCO); default: read from the checkpoint")
    parser.add_argument("--skeleton", default=None,
                        help="coco, crowdpose or a skeleton YAML/JSON (default: by joint count)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output .pt file")


def run(args: argparse.Namespace) -> int:
    from litepose.io import check_output_file
    from litepose.models.checkpoint import (
        keypoints_of,
        load_weights,
        normalize_state_dict,
        read_checkpoint,
        save,
        select_state_dict,
    )
    from litepose.models.zoo import create_model
    from litepose.skeleton import get_skeleton, load_skeleton

    inputs = [args.checkpoint] + [Path(f) for f in (args.arch, args.skeleton) if f and Path(f).is_file()]
    check_output_file(args.output, inputs=inputs, option="--output")
    raw = read_checkpoint(args.checkpoint)
    state = normalize_state_dict(select_state_dict(raw, str(args.checkpoint)))
    joints = args.joints if args.joints is not None else keypoints_of(state, str(args.checkpoint))
    model = create_model(args.arch, joints)
    load_weights(model, state, source=str(args.checkpoint))
    skeleton = load_skeleton(args.skeleton) if args.skeleton else None
    if skeleton is None:
        try:
            skeleton = get_skeleton(joints)
        except ValueError:
            skeleton = None
    if skeleton is not None and skeleton.num_keypoints != joints:
        raise ValueError(f"skeleton {skeleton.name!r} has {skeleton.num_keypoints} keypoints, "
                         f"the checkpoint {joints}")
    save(model, args.output, skeleton=skeleton,
         meta={"source": str(args.checkpoint), "converted_from": "official", "arch_name": str(args.arch)})
    print(f"wrote {args.output} ({model.spec.name}, {joints} keypoints"
          f"{', skeleton ' + skeleton.name if skeleton else ''})")
    return 0
