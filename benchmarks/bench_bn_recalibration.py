"""Which BatchNorm recalibration ranks sub-networks better: ``exact`` (once-for-all) or ``official``?

For sub-networks of a trained supernet, the reference score is the AP after recalibrating on many
images (exact averages over ``--ref-batches``): the best estimate of the statistics the sub-network
would have. Each mode then recalibrates with the search's small budget (``--batches``) and the
Kendall τ of its APs against the reference says how well it preserves the ranking the search relies
on. The inherited (uncalibrated) statistics are scored too, as the floor.

    python benchmarks/bench_bn_recalibration.py --supernet runs/nas/supernet/last.pt \
        --ann data/val/annotations.json --images data/val/images --calib-ann data/train/annotations.json \
        --calib-images data/train/images
    python benchmarks/bench_bn_recalibration.py --quick      # a random supernet on synthetic data

Without ``--supernet`` (``--quick``) a random supernet on a tiny synthetic set is used: the numbers then
only show that the script runs.
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from scipy.stats import kendalltau

from litepose.evaluation.model import evaluate_model, subset_annotations
from litepose.models.space import get_search_space
from litepose.models.spec import ArchSpec
from litepose.models.supernet import SuperLitePose, load_supernet
from litepose.search.calibrate import BnMode, recalibrate_bn
from litepose.search.candidates import CalibrationImages
from summary import Headline, add_summary_option, write_summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--supernet", type=Path, help="a supernet checkpoint (litepose train with model.supernet)")
    parser.add_argument("--ann", type=Path, help="validation annotations (COCO format)")
    parser.add_argument("--images", type=Path, help="validation images")
    parser.add_argument("--calib-ann", type=Path, help="calibration annotations (a training set)")
    parser.add_argument("--calib-images", type=Path)
    parser.add_argument("--resolutions", type=int, nargs="+", default=None,
                        help="the space's resolutions (default: the supernet's space)")
    parser.add_argument("--archs", type=int, default=12, help="random sub-networks to rank")
    parser.add_argument("--val-images", type=int, default=200, help="validation images scored per sub-network")
    parser.add_argument("--batches", type=int, default=4, help="calibration batches of the search (16 images)")
    parser.add_argument("--ref-batches", type=int, default=32, help="calibration batches of the reference")
    parser.add_argument("--threshold", type=float, default=0.2, help="grouping candidate threshold")
    parser.add_argument("--quick", action="store_true", help="random supernet, tiny synthetic data, 3 archs")
    add_summary_option(parser)
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory()
    if args.quick or args.supernet is None:
        args = _quick_setup(args, Path(tmp.name))
        supernet, skeleton = SuperLitePose(17).eval(), None
        space = replace(get_search_space("official"), resolutions=tuple(args.resolutions))
    else:
        loaded = load_supernet(args.supernet)
        supernet, skeleton = loaded.model.eval(), loaded.skeleton
        space = loaded.space or get_search_space("official")
        if args.resolutions:
            space = replace(space, resolutions=tuple(args.resolutions))
    val_ann = subset_annotations(args.ann, args.val_images, Path(tmp.name) / "val.json")
    reference_images = CalibrationImages.draw(args.calib_ann, args.calib_images, skeleton,
                                              size=max(space.resolutions), count=16 * args.ref_batches,
                                              batch_size=16, seed=1)
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(args.archs)]
    device = torch.device("cpu")

    def score(arch: ArchSpec, mode: BnMode | None, batches: int) -> float:
        net = supernet.extract(arch).eval()
        if mode is not None:  # the same images for both modes; the search's budget is their first batches
            recalibrate_bn(net, reference_images.batches(arch.input_size, device), batches, mode=mode)
        result = evaluate_model(net, val_ann, args.images, skeleton=skeleton, input_size=arch.input_size,
                                flip_test=False, detection_threshold=args.threshold)
        assert result.metrics is not None
        return float(result.metrics["AP"])

    rows = []
    print(f"{len(archs)} sub-networks, AP on {args.val_images} images; reference: exact over "
          f"{args.ref_batches} x 16 images; search budget {args.batches} x 16 images")
    print(f"{'sub-network':<36}{'reference':>10}{'exact':>8}{'official':>10}{'inherited':>11}")
    for arch in archs:
        row = (score(arch, "exact", args.ref_batches), score(arch, "exact", args.batches),
               score(arch, "official", args.batches), score(arch, None, 0))
        rows.append(row)
        print(f"{arch.name:<36}{row[0]:>10.3f}{row[1]:>8.3f}{row[2]:>10.3f}{row[3]:>11.3f}")
    table = np.array(rows)
    taus = {}
    for i, name in ((1, "exact"), (2, "official"), (3, "inherited")):
        tau = kendalltau(table[:, 0], table[:, i]).statistic
        taus[name] = 0.0 if np.isnan(tau) else float(tau)
    print("Kendall tau against the reference: " + ", ".join(f"{k} {v:.3f}" for k, v in taus.items()))
    write_summary(args.summary_json, [Headline(f"Kendall tau vs reference, {k}", v, "") for k, v in taus.items()])


def _quick_setup(args: argparse.Namespace, root: Path) -> argparse.Namespace:
    from litepose.data.synthetic import generate_dataset

    ann = generate_dataset(root / "data", 8, "coco", seed=3, image_size=(64, 64), min_people=1, max_people=2,
                           min_height=30, max_height=60, crowd_prob=0.0)
    args.ann = args.calib_ann = ann
    args.images = args.calib_images = root / "data" / "images"
    args.resolutions = [32, 64]
    args.archs, args.val_images, args.batches, args.ref_batches = 3, 4, 1, 2
    return args


if __name__ == "__main__":
    main()
