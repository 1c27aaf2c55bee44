"""Frame timestamps of video sources: the container's times (variable frame rates), with fallbacks."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from litepose.inference.sources import Source, frame_time, open_source


class _Capture:
    """A VideoCapture whose frames report the given CAP_PROP_POS_MSEC values."""

    def __init__(self, times_ms: list[float]) -> None:
        self.times_ms, self.i = times_ms, -1

    def read(self) -> tuple[bool, np.ndarray | None]:
        self.i += 1
        if self.i >= len(self.times_ms):
            return False, None
        return True, np.full((8, 8, 3), self.i, np.uint8)

    def get(self, prop: int) -> float:
        assert prop == cv2.CAP_PROP_POS_MSEC
        return self.times_ms[self.i]

    def release(self) -> None:
        pass


def test_frame_time_rules() -> None:
    assert frame_time(0.0, 0, 25.0, None) == 0.0
    assert frame_time(40.0, 1, 25.0, 0.0) == 0.04
    assert frame_time(40.0, 2, 25.0, 0.04) == 0.08        # a repeated time: one frame interval later
    assert frame_time(math.nan, 3, 25.0, 0.08) == 0.12     # no time at all: the same
    assert frame_time(-1.0, 0, 25.0, None) == 0.0          # the first frame falls back on index / fps


def test_variable_frame_rate_video_times_are_kept() -> None:
    times = [0.0, 33.3, 50.0, 120.0, 120.0, float("nan"), 300.0]  # irregular, a repeat, a missing one
    source = Source("video", "vfr.mp4", fps=30.0, frame_count=7, _capture=_Capture(times))  # type: ignore[arg-type]
    got = [f.timestamp for f in source]
    expected = [0.0, 0.0333, 0.05, 0.12, 0.12 + 1 / 30, 0.12 + 2 / 30, 0.3]
    np.testing.assert_allclose(got, expected, atol=1e-9)
    assert source.stopped_early is None


def test_a_real_constant_rate_file(tmp_path: Path) -> None:
    path = tmp_path / "c.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 8.0, (32, 24))
    for i in range(5):
        writer.write(np.full((24, 32, 3), 40 * i, np.uint8))
    writer.release()
    with open_source(path) as source:
        np.testing.assert_allclose([f.timestamp for f in source], np.arange(5) / 8.0, atol=1e-6)
