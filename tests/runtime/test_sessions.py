"""litepose.runtime.sessions: pinned onnxruntime sessions and the process's one OpenVINO Core."""

from __future__ import annotations

import subprocess
import sys

from litepose.runtime.sessions import openvino_core

# Two Cores taken for two models, their CPU plugin loaded, freed in the order they were taken, then a signal
# that a Python handler catches. With a new Core each time, OpenVINO's CPU plugin left the main thread's
# signal stack pointing at unmapped memory and the process died of SIGSEGV without a message (this killed
# the whole test suite run in one process, at a test that waited for a subprocess: SIGCHLD).
FREED_IN_CREATION_ORDER = """
import gc, os, signal
from litepose.runtime.sessions import openvino_core

caught = []
signal.signal(signal.SIGUSR1, lambda *_: caught.append(True))
first, second = openvino_core(), openvino_core()
for core in (first, second):
    core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
del core, first
gc.collect()
del second
gc.collect()
os.kill(os.getpid(), signal.SIGUSR1)
print("handled" if caught else "not handled")
"""


def test_one_core_per_process() -> None:
    assert openvino_core() is openvino_core()


def test_runtimes_freed_in_creation_order_leave_signals_working() -> None:
    proc = subprocess.run([sys.executable, "-c", FREED_IN_CREATION_ORDER], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert proc.stdout.strip().endswith("handled") and "not handled" not in proc.stdout
