"""The paper's design-space experiments, run with one command (``litepose experiment NAME``).

* :mod:`~litepose.experiments.design` — what each experiment compares (gradual shrinking of
  Scaled-HigherHRNet-W16, kernel size, fusion head, single vs multi-branch) and the paper's numbers.
* :mod:`~litepose.experiments.runner` — every variant trained under the same budget for several seeds,
  scored with pycocotools, profiled and timed; resumable after a kill.
* :mod:`~litepose.experiments.report` — tables (Markdown, CSV, JSON) and the AP vs MACs / latency figure.

This room is built on training, evaluation and export; nothing in the core imports it.
"""
