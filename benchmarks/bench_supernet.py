"""Supernet training step vs the standalone LitePose of the same sub-network, side by side in one run.

The supernet runs a sub-network by slicing its max-size weights (and Adam updates all 5.8M parameters,
as the official code does); the standalone network is the extracted sub-network with its own optimizer.
Target (issue 11): the supernet step costs at most 1.3x the standalone step for the same architecture.

Each measured step: forward, LitePose loss on random targets, backward, fused Adam update, in
``channels_last`` as the trainer runs. Steps of the two are interleaved (A, B, A, B, ...) so that a
machine whose speed drifts affects both alike; the median of each is reported.

    python benchmarks/bench_supernet.py                  # 4 sub-networks of the official space at 128 px
    python benchmarks/bench_supernet.py --size 256 --batch 8
    python benchmarks/bench_supernet.py --quick
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import torch

from litepose.models.space import get_search_space
from litepose.models.supernet import SuperLitePose
from litepose.training.losses import LitePoseLoss
from summary import Headline, add_summary_option, write_summary


def make_step(model: torch.nn.Module, arch: object | None, batch: int, size: int, joints: int) -> Callable[[], float]:
    """A closure running one training step of ``model`` (with ``arch`` for the supernet)."""
    loss_fn = LitePoseLoss(joints)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=1e-4, fused=True)  # as the trainer builds it
    x = torch.randn(batch, 3, size, size).contiguous(memory_format=torch.channels_last)
    r4, r2 = size // 4, size // 2
    heatmaps = [torch.rand(batch, joints, r4, r4), torch.rand(batch, joints, r2, r2)]
    masks = [torch.ones(batch, r4, r4), torch.ones(batch, r2, r2)]
    idx = torch.randint(0, joints * r4 * r4, (batch, 4, joints, 1))
    joints_t = [torch.cat([idx, torch.ones_like(idx)], dim=-1), torch.zeros(batch, 4, joints, 2, dtype=torch.long)]

    def step() -> float:
        start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        out = model(x, arch) if arch is not None else model(x)
        loss_fn(out, heatmaps, masks, joints_t).total.backward()
        opt.step()
        return time.perf_counter() - start

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=128, help="input side of every sub-network (default 128)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--archs", type=int, default=4, help="random sub-networks besides the largest and smallest")
    parser.add_argument("--steps", type=int, default=8, help="measured steps per network (after 2 warm-up)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="smoke run: 64 px, 1 random arch, 2 steps")
    add_summary_option(parser)
    args = parser.parse_args()
    if args.quick:
        args.size, args.archs, args.steps, args.batch = 64, 1, 2, 4
    if args.threads:
        torch.set_num_threads(args.threads)
    space = get_search_space("official")
    rng = np.random.default_rng(0)
    archs = [space.max_arch(), space.min_arch(), *(space.sample(rng) for _ in range(args.archs))]
    archs = [replace(a, input_size=args.size) for a in archs]
    torch.manual_seed(0)
    supernet = SuperLitePose(17).train().to(memory_format=torch.channels_last)
    for block in supernet.modules():  # as the trainer: the never-used kernel transforms are frozen
        if hasattr(block, "Linear5x5"):
            block.Linear5x5.requires_grad_(False)
            block.Linear3x3.requires_grad_(False)
    print(f"supernet step vs standalone step, batch {args.batch} at {args.size}px, {torch.get_num_threads()} "
          f"threads, channels_last, fused Adam ({args.steps} steps each, interleaved, median)")
    print(f"{'sub-network':<36}{'standalone ms':>14}{'supernet ms':>13}{'ratio':>8}")
    ratios = []
    for arch in archs:
        standalone = supernet.extract(arch).train().to(memory_format=torch.channels_last)
        sup_step = make_step(supernet, arch, args.batch, args.size, 17)
        own_step = make_step(standalone, None, args.batch, args.size, 17)
        for _ in range(2):
            sup_step()
            own_step()
        sup, own = [], []
        for _ in range(args.steps):
            sup.append(sup_step())
            own.append(own_step())
        s, o = statistics.median(sup) * 1e3, statistics.median(own) * 1e3
        ratios.append(s / o)
        print(f"{arch.name:<36}{o:>14.1f}{s:>13.1f}{s / o:>7.2f}x")
    print(f"ratio: median {statistics.median(ratios):.2f}x, worst {max(ratios):.2f}x (target <= 1.3x)")
    write_summary(args.summary_json, [Headline("supernet/standalone step, median over archs",
                                               statistics.median(ratios), "x"),
                                      Headline("supernet/standalone step, worst arch", max(ratios), "x")])


if __name__ == "__main__":
    main()
