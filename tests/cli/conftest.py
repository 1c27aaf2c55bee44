from __future__ import annotations

import pytest


@pytest.fixture
def no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading a model or reading a checkpoint fails the test: option and output checks must come first."""
    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("a model was loaded before the options and outputs were checked")

    monkeypatch.setattr("litepose.cli.predict.build_predictor", refuse)
    monkeypatch.setattr("litepose.cli.eval.build_predictor", refuse)
    monkeypatch.setattr("litepose.models.checkpoint.read_checkpoint", refuse)
