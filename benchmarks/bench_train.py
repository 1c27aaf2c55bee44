"""Training throughput: the model step with and without channels_last, and the data pipeline against it.

Prints, side by side, images/s of

* the training step alone (forward, loss, backward, Adam step on a fixed batch) in NCHW and in
  channels_last (NHWC) memory format;
* the data pipeline alone (reading JPEGs, the paper's augmentation, targets, collate) with 0 and N
  workers;
* the real loop (loader + step), whose speed should equal the step's when the loader is off the
  critical path;
* the Adam update alone, per-parameter loop against the fused kernel the trainer uses;

and the ratios (channels_last speed-up, loader headroom = pipeline speed / step speed, fused Adam
speed-up).

Usage::

    python benchmarks/bench_train.py                       # synthetic data, XS at 128, batch 16
    python benchmarks/bench_train.py --input-size 256 --arch litepose-xs --workers 2 --threads 2
    python benchmarks/bench_train.py --ann DATA.json --images DIR   # your own data
    python benchmarks/bench_train.py --quick                       # 2 steps of batch 8: a smoke run
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import torch

from summary import Headline, add_summary_option, write_summary


def bench_step(arch: str, input_size: int, batch: dict, channels_last: bool, steps: int, warmup: int) -> float:
    """Images/s of the full optimisation step on one fixed batch."""
    from litepose.models.zoo import create_model
    from litepose.training.losses import LitePoseLoss

    num_kp = batch["heatmaps"][0].shape[1]
    torch.manual_seed(0)
    model = create_model(arch, num_kp).train()
    images = batch["image"]
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    loss_fn = LitePoseLoss(num_kp)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, fused=True)  # as the trainer builds it
    heatmaps, masks, joints = list(batch["heatmaps"]), list(batch["masks"]), list(batch["joints"])
    n = images.shape[0]
    t0 = 0.0
    for i in range(warmup + steps):
        if i == warmup:
            t0 = time.perf_counter()
        loss = loss_fn(model(images), heatmaps, masks, joints).total
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return n * steps / (time.perf_counter() - t0)


def bench_adam(arch: str, num_kp: int, fused: bool, steps: int) -> float:
    """Milliseconds per Adam update of the model's parameters (random gradients)."""
    from litepose.models.zoo import create_model

    torch.manual_seed(0)
    model = create_model(arch, num_kp)
    for p in model.parameters():
        p.grad = torch.randn_like(p)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, fused=fused or None)
    for _ in range(3):
        opt.step()
    t0 = time.perf_counter()
    for _ in range(steps):
        opt.step()
    return (time.perf_counter() - t0) / steps * 1e3


def _cycle(loader: torch.utils.data.DataLoader, it: Iterator[dict]) -> Iterator[dict]:
    """Batches from ``it`` and then from fresh passes over ``loader``, without end."""
    while True:
        yield from it
        it = iter(loader)


def bench_loader(loader: torch.utils.data.DataLoader, batches: int) -> float:
    """Images/s of the DataLoader alone (after its first batch, which pays the worker start-up)."""
    it = iter(loader)
    next(it)
    batches_iter = _cycle(loader, it)
    t0 = time.perf_counter()
    n = 0
    for _ in range(batches):
        b = next(batches_iter)
        n += b["image"].shape[0]
    return n / (time.perf_counter() - t0)


def bench_loop(arch: str, loader: torch.utils.data.DataLoader, channels_last: bool, batches: int) -> float:
    """Images/s of loader + step together, as in training."""
    from litepose.models.zoo import create_model
    from litepose.training.losses import LitePoseLoss

    it = iter(loader)
    first = next(it)
    num_kp = first["heatmaps"][0].shape[1]
    model = create_model(arch, num_kp).train()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    loss_fn = LitePoseLoss(num_kp)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, fused=True)  # as the trainer builds it

    def step(b: dict) -> int:
        x = b["image"].contiguous(memory_format=torch.channels_last) if channels_last else b["image"]
        loss = loss_fn(model(x), list(b["heatmaps"]), list(b["masks"]), list(b["joints"])).total
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return x.shape[0]

    step(first)  # warm-up (oneDNN primitive creation)
    batches_iter = _cycle(loader, it)
    t0 = time.perf_counter()
    n = 0
    for _ in range(batches):
        n += step(next(batches_iter))
    return n / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", default="litepose-xs")
    p.add_argument("--input-size", type=int, default=128)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=8, help="timed steps per measurement")
    p.add_argument("--workers", type=int, default=2, help="loader workers for the multi-worker rows")
    p.add_argument("--threads", type=int, default=2, help="torch threads for the model step")
    p.add_argument("--ann", help="COCO keypoint JSON (default: a synthetic dataset made on the fly)")
    p.add_argument("--images", help="image folder of --ann")
    p.add_argument("--quick", action="store_true", help="2 timed steps of batch 8 (a smoke run)")
    add_summary_option(p)
    args = p.parse_args()
    if args.quick:
        args.steps, args.batch = 2, 8

    from torch.utils.data import DataLoader

    from litepose.data.dataset import KeypointDataset

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        if args.ann:
            ann, images = Path(args.ann), Path(args.images or Path(args.ann).parent / "images")
        else:
            from litepose.data.synthetic import generate_dataset

            size = (args.input_size * 5 // 4, args.input_size)
            ann = generate_dataset(Path(tmp) / "synth", 96, "coco", seed=0, image_size=size, min_people=1,
                                   max_people=6, min_height=args.input_size * 0.3,
                                   max_height=args.input_size * 0.95)
            images = Path(tmp) / "synth" / "images"
        ds = KeypointDataset(ann, images, input_size=args.input_size, seed=0)

        def loader(workers: int) -> DataLoader:
            return DataLoader(ds, batch_size=args.batch, shuffle=True, num_workers=workers, drop_last=True,
                              persistent_workers=workers > 0, prefetch_factor=4 if workers else None)

        batch = next(iter(loader(0)))
        rows: list[tuple[str, float]] = []
        step_nchw = bench_step(args.arch, args.input_size, batch, False, args.steps, 2)
        step_nhwc = bench_step(args.arch, args.input_size, batch, True, args.steps, 2)
        rows += [("model step, NCHW", step_nchw), ("model step, channels_last", step_nhwc)]
        load0 = bench_loader(loader(0), args.steps)
        loadn = bench_loader(loader(args.workers), args.steps * 2)
        rows += [("data pipeline, 0 workers", load0), (f"data pipeline, {args.workers} workers", loadn)]
        loop0 = bench_loop(args.arch, loader(0), True, args.steps)
        loop = bench_loop(args.arch, loader(args.workers), True, args.steps)
        rows.append(("loader (0 workers) + step, channels_last", loop0))
        rows.append((f"loader ({args.workers} workers) + step, channels_last", loop))
        num_kp = batch["heatmaps"][0].shape[1]
        adam_loop = bench_adam(args.arch, num_kp, False, args.steps * 5)
        adam_fused = bench_adam(args.arch, num_kp, True, args.steps * 5)

    print(f"\n{args.arch} at {args.input_size}x{args.input_size}, batch {args.batch}, "
          f"{args.threads} torch threads, {torch.get_num_threads()} used")
    width = max(len(r[0]) for r in rows)
    for name, ips in rows:
        print(f"  {name:<{width}}  {ips:8.1f} img/s")
    print(f"  Adam update, per-parameter loop  {adam_loop:6.2f} ms")
    print(f"  Adam update, fused               {adam_fused:6.2f} ms")
    print("ratios")
    print(f"  channels_last speed-up (step)              {step_nhwc / step_nchw:6.2f}x")
    print(f"  loader headroom, 0 workers (pipeline/step) {load0 / step_nhwc:6.2f}x")
    print(f"  loader headroom, {args.workers} workers                 {loadn / step_nhwc:6.2f}x")
    print(f"  real loop / step alone, 0 workers          {loop0 / step_nhwc:6.2f}x")
    print(f"  real loop / step alone, {args.workers} workers          {loop / step_nhwc:6.2f}x  "
          "(1.0 = data loading fully hidden)")
    print(f"  fused Adam speed-up (update alone)          {adam_loop / adam_fused:6.2f}x")
    model = f"{args.arch} at {args.input_size}, batch {args.batch}"
    write_summary(args.summary_json, [
        Headline(f"training step, channels_last, {model}", step_nhwc, "img/s"),
        Headline(f"loader ({args.workers} workers) + step, {model}", loop, "img/s"),
        Headline("channels_last speed-up (step)", step_nhwc / step_nchw, "x"),
        Headline("fused Adam update", adam_fused, "ms"),
    ])
    if torch.get_num_threads() + args.workers > (os.cpu_count() or 1):
        print(f"  note: {torch.get_num_threads()} compute threads + {args.workers} workers > {os.cpu_count()} cores: "
              "workers then steal cores from the step; use data.workers=0 on such small machines")


if __name__ == "__main__":
    main()
