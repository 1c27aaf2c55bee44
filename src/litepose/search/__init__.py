"""Hardware-aware evolutionary architecture search over the once-for-all supernet (``litepose search``).

* :mod:`~litepose.search.config` — the typed search config (YAML + ``--set``).
* :mod:`~litepose.search.constraints` — budgets (``1.2G``, ``850M``, ``1.7M``, ``10ms``) and cached costs.
* :mod:`~litepose.search.evolution` — :class:`~litepose.search.evolution.EvolutionSearch` and its state.
* :mod:`~litepose.search.sharding` — each generation's evaluations split across torchrun processes.
* :mod:`~litepose.search.predictor` — optional accuracy predictor that pre-screens children.
* :mod:`~litepose.search.calibrate`, :mod:`~litepose.search.candidates` — BN recalibration and the
  supernet evaluator (a candidate's AP).
* :mod:`~litepose.search.proxy` — a synthetic fitness for dry runs (not AP).
* :mod:`~litepose.search.sources` — evaluators and latency sources by name, imported when used.
* :mod:`~litepose.search.outputs`, :mod:`~litepose.search.run` — the output files; one whole search.

Nothing in the core (models, decoding, inference, evaluation, training) imports this package.
"""
