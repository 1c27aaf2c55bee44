"""Time the NumPy/OpenCV maps (the torch-free runtime) against the torch maps on network-sized outputs.

Both turn the same random network outputs (COCO's 17 joints) into the maps the grouping runs on
(stride-4 upsampling, stage averaging, flip merge, projection to the input size): at 256x256 and
512x512 input, with and without the flip test, at 1 thread (``torch.set_num_threads(1)``,
``cv2.setNumThreads(1)``) and at the default count. The script checks that the maps agree (largest
absolute difference on unit-scale outputs) and prints the median times and the ratio::

    .venv/bin/python benchmarks/bench_maps.py            # 256 and 512, 20 runs each
    .venv/bin/python benchmarks/bench_maps.py --quick    # 256 only, 5 runs

The maps are one step of an image's path (preprocess, network, maps, decode); the end-to-end target
of the deployment issue is 8 ms at 256x256 without flip. Exit status 1 if the maps disagree by more
than 1e-5.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

import cv2
import numpy as np
import torch

from litepose.decoding import maps as torch_maps
from litepose.decoding import maps_numpy
from litepose.skeleton import COCO
from summary import Headline, add_summary_option, write_summary

J = 17
TOLERANCE = 1e-5


def _median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def _case(size: int, flip: bool, repeat: int) -> tuple[float, float, float]:
    rng = np.random.default_rng(size + flip)

    def outputs() -> tuple[np.ndarray, np.ndarray]:
        return (rng.standard_normal((1, 2 * J, size // 4, size // 4)).astype(np.float32),
                rng.standard_normal((1, J, size // 2, size // 2)).astype(np.float32))

    plain, flipped = outputs(), (outputs() if flip else None)
    tensors = tuple(torch.from_numpy(a) for a in plain)
    flipped_t = None if flipped is None else tuple(torch.from_numpy(a) for a in flipped)
    options = {"flip_index": COCO.flip_index, "project_to": (size, size), "valid_size": (size, size)}

    def run_numpy() -> tuple[np.ndarray, np.ndarray]:
        return maps_numpy.outputs_to_maps(plain, J, flip_outputs=flipped, **options)

    def run_torch() -> tuple[torch.Tensor, torch.Tensor]:
        with torch.inference_mode():
            return torch_maps.outputs_to_maps(tensors, J, flip_outputs=flipped_t, **options)

    (nh, nt), (th, tt) = run_numpy(), run_torch()
    diff = max(float(np.abs(nh - th.numpy()).max()), float(np.abs(nt - tt.numpy()).max()))
    return _median_ms(run_numpy, repeat), _median_ms(run_torch, repeat), diff


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="256x256 only, 5 runs (a smoke run)")
    parser.add_argument("--repeat", type=int, default=20, help="timed runs per case (median kept)")
    add_summary_option(parser)
    args = parser.parse_args(argv)
    sizes = (256,) if args.quick else (256, 512)
    repeat = 5 if args.quick else args.repeat
    default_threads = torch.get_num_threads()
    print(f"{os.cpu_count()} CPUs, torch {torch.__version__}, OpenCV {cv2.__version__}, NumPy {np.__version__}; "
          f"median of {repeat} runs; J = {J}")
    print(f"{'input':>7} {'flip':>5} {'threads':>7} {'numpy+cv2 ms':>13} {'torch ms':>9} {'ratio':>6} {'max diff':>9}")
    headlines, worst = [], 0.0
    for threads in (1, default_threads):
        torch.set_num_threads(threads)
        cv2.setNumThreads(threads)
        for size in sizes:
            for flip in (False, True):
                numpy_ms, torch_ms, diff = _case(size, flip, repeat)
                worst = max(worst, diff)
                print(f"{size:>7} {'on' if flip else 'off':>5} {threads:>7} {numpy_ms:>13.2f} {torch_ms:>9.2f} "
                      f"{torch_ms / numpy_ms:>5.1f}x {diff:>9.1e}")
                if size == 256 and not flip and threads == 1:
                    headlines += [Headline("maps 256x256 no flip, 1 thread (NumPy/OpenCV)", numpy_ms, "ms"),
                                  Headline("maps 256x256 no flip, 1 thread (torch)", torch_ms, "ms")]
        if threads == default_threads:
            break
    torch.set_num_threads(default_threads)
    ok = worst <= TOLERANCE
    print(f"largest difference {worst:.1e} ({'within' if ok else 'BEYOND'} {TOLERANCE:.0e})")
    write_summary(args.summary_json, [*headlines, Headline("maps: largest difference vs torch", worst, "")])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
