"""How a latency is measured and recorded: the timing loop, its result, and the host it ran on.

The loop runs ``warmup`` untimed calls (first calls allocate, pick kernels, fill caches), then times
calls one by one with :func:`time.perf_counter` and keeps them all; the headline is the **median**,
which a few calls slowed down by another process on a shared machine barely move. With a time
budget, the loop stops early once it has ``min_repeats`` calls and the budget is spent, so that
slow networks are not timed for minutes while fast ones still get many samples.

Sustained competition for the CPU is another matter: with every core busy elsewhere, a 2-thread
PyTorch forward that takes 25 ms on a quiet 2-core machine was measured at 100 ms to 3.5 s. Such
a measurement says nothing about the network, so it is flagged: :class:`CpuWait` reads Linux's
pressure-stall counter (``/proc/pressure/cpu``) around the timed calls and gives the share of the
time during which some runnable task was waiting for a CPU; above :data:`CONTENDED` (10 %) the
result is :attr:`LatencyResult.contended`.

Eager PyTorch on a CPU has a third source of spread: glibc's malloc. A 512² forward allocates
activation buffers of several MB; glibc serves buffers that large with fresh ``mmap`` pages (or trims
them off the heap's top) and hands them back to the OS when freed, so every call pays page faults,
and how many depends on the heap the process built up before. The same 0.5 LitePose forward at
512² took 57-60 ms in a process that had only built the network (12,141 minor page faults per
forward), 40-46 ms in one that had trained first, and 40-44 ms with malloc told to keep freed memory
(:func:`keep_freed_memory`; 0.1 page faults per forward), whatever came before (2 threads, 2-core
EPYC). A process that exists to time networks calls it first; onnxruntime and OpenVINO keep their own
memory arenas and are not affected.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from importlib import metadata
from typing import Any

__all__ = ["CONTENDED", "CpuWait", "LatencyResult", "cpu_model", "default_threads", "host_id", "keep_freed_memory",
           "package_versions",
           "time_calls"]

MIN_REPEATS = 5  # the fewest timed calls a budget may stop at
CONTENDED = 0.1  # share of the time with tasks waiting for a CPU above which a measurement is flagged
PSI_CPU = "/proc/pressure/cpu"


def cpu_wait_total_us() -> int | None:
    """Microseconds (cumulative) during which some runnable task waited for a CPU; ``None`` without PSI."""
    try:
        with open(PSI_CPU) as fh:
            return int(fh.readline().rsplit("total=", 1)[1])
    except (OSError, IndexError, ValueError):
        return None


class CpuWait:
    """The share of wall-clock time, over a ``with`` block, during which some task waited for a CPU.

    ``share`` is ``None`` where the kernel has no pressure-stall information (not Linux, or PSI off).
    """

    share: float | None = None

    @classmethod
    @contextlib.contextmanager
    def measure(cls) -> Iterator[CpuWait]:
        wait = cls()
        start_us, start = cpu_wait_total_us(), time.perf_counter()
        yield wait
        end_us, elapsed = cpu_wait_total_us(), time.perf_counter() - start
        if start_us is not None and end_us is not None and elapsed > 0:
            wait.share = round(min(1.0, (end_us - start_us) / 1e6 / elapsed), 3)


def time_calls(fn: Callable[[], Any], *, warmup: int, repeats: int, budget_s: float | None = None,
               min_repeats: int = MIN_REPEATS) -> list[float]:
    """Seconds taken by each of up to ``repeats`` calls of ``fn`` after ``warmup`` untimed calls.

    With ``budget_s``, timing stops once at least ``min(min_repeats, repeats)`` calls are timed and
    their total reaches ``budget_s`` (adaptive repeats: cheap calls get up to ``repeats`` samples,
    expensive ones at least ``min_repeats``).
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    for _ in range(warmup):
        fn()
    times: list[float] = []
    floor = min(min_repeats, repeats)
    while len(times) < repeats:
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
        if budget_s is not None and len(times) >= floor and sum(times) >= budget_s:
            break
    return times


@dataclass(frozen=True)
class LatencyResult:
    """One latency measurement.

    Attributes:
        median_ms: median time of one call (the number to use).
        spread_ms: interquartile range (75th minus 25th percentile) of the timed calls: how noisy
            the measurement was.
        min_ms: fastest call.
        p90_ms: 90th percentile.
        repeats: timed calls.
        warmup: untimed calls before them.
        backend: ``torch`` or ``onnxruntime``.
        threads: intra-op threads the backend was pinned to.
        input_shapes: the input tensor shapes (``[[1, 3, H, W]]`` for a LitePose).
        settings: backend details that change the time (memory format, graph optimisation, opset).
        host: :func:`host_id` of the machine.
        cpu_wait: share of the measurement's time during which some task waited for a CPU (other
            processes competing for the cores; ``None`` where unknown).
    """

    median_ms: float
    spread_ms: float
    min_ms: float
    p90_ms: float
    repeats: int
    warmup: int
    backend: str
    threads: int
    input_shapes: tuple[tuple[int, ...], ...]
    settings: Mapping[str, Any] = field(default_factory=dict, compare=False)
    host: str = ""
    cpu_wait: float | None = None

    @property
    def contended(self) -> bool:
        """Other processes competed for the CPU during the measurement: the times are not trustworthy."""
        return self.cpu_wait is not None and self.cpu_wait > CONTENDED

    @classmethod
    def from_times(cls, times_s: list[float], **info: Any) -> LatencyResult:
        """Summarise per-call times in seconds; ``info`` fills the other fields."""
        ms = sorted(t * 1e3 for t in times_s)
        if len(ms) >= 2:
            q = statistics.quantiles(ms, n=20, method="inclusive")  # 5 %, 10 %, ..., 95 %
            spread, p90 = q[14] - q[4], q[17]
        else:
            spread, p90 = 0.0, ms[0]
        return cls(median_ms=statistics.median(ms), spread_ms=spread, min_ms=ms[0], p90_ms=p90, repeats=len(ms),
                   **info)

    def to_dict(self) -> dict[str, Any]:
        raw = asdict(self)
        raw["input_shapes"] = [list(s) for s in self.input_shapes]
        raw["settings"] = dict(self.settings)
        return raw

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> LatencyResult:
        values = dict(raw)
        values["input_shapes"] = tuple(tuple(int(d) for d in s) for s in values.get("input_shapes", ()))
        return cls(**values)

    def describe(self) -> str:
        """One line: median, spread and how it was measured."""
        opts = ", ".join(f"{k}={v}" for k, v in self.settings.items())
        busy = (f" - CONTENDED: tasks waited for a CPU {self.cpu_wait:.0%} of the time, the times are inflated"
                if self.contended else "")
        return (f"median {self.median_ms:.2f} ms (IQR {self.spread_ms:.2f}, min {self.min_ms:.2f}, "
                f"p90 {self.p90_ms:.2f}; {self.repeats} runs after {self.warmup} warm-up) on {self.backend}, "
                f"{self.threads} thread{'s' if self.threads != 1 else ''}{f', {opts}' if opts else ''}{busy}")


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to keep freed memory in this process instead of returning it to the OS.

    Buffers of up to 32 MB (glibc's limit) come from the heap rather than fresh ``mmap`` pages and the
    heap is not trimmed, so repeated forwards reuse memory that is already mapped: latency no longer
    depends on the process's history (see the module notes). The setting holds for the rest of the
    process, so call it only in a process that exists to time networks.

    Returns:
        ``False`` where the C library has no ``mallopt`` (not glibc: macOS, musl), else ``True``.
    """
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's <malloc.h> parameter numbers
    return bool(mallopt(m_mmap_threshold, 32 << 20)) and bool(mallopt(m_trim_threshold, 1 << 30))


def default_threads() -> int:
    """The cores this process may run on (its CPU affinity), the thread count used when none is given."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@functools.lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``; the platform's processor string elsewhere)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown cpu"


def package_versions() -> dict[str, str]:
    """Versions of what a measured time depends on (read from package metadata, nothing imported)."""
    versions = {"python": platform.python_version()}
    for name in ("litepose", "torch", "onnxruntime", "numpy"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def host_id() -> str:
    """Who measured: hostname, CPU model, core count and the torch / onnxruntime versions.

    A latency depends on all of them, so cached measurements and lookup tables carry this string
    and are only reused on the same host id.
    """
    v = package_versions()
    return (f"{platform.node() or 'unknown-host'} / {cpu_model()} x{os.cpu_count() or 1} / "
            f"torch {v['torch']} / onnxruntime {v['onnxruntime']}")
