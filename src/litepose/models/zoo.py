"""The model zoo: official searched configurations by name, and the one public factory.

``litepose-xs/s/m/l`` are the official ``mobile_configs/search-{XS,S,M,L}.json`` (shipped verbatim in
``models/archs/``) with their input sizes 256/448/448/512.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from litepose.models.litepose import LitePose
from litepose.models.spec import ArchSpec

__all__ = ["ARCH_FILES", "create_model", "get_arch", "list_models"]

# name -> official arch JSON shipped in litepose/models/archs/
ARCH_FILES: dict[str, str] = {
    "litepose-xs": "search-XS.json",
    "litepose-s": "search-S.json",
    "litepose-m": "search-M.json",
    "litepose-l": "search-L.json",
}


def list_models() -> list[str]:
    """Names accepted by :func:`create_model`, smallest first."""
    return list(ARCH_FILES)


def get_arch(name: str) -> ArchSpec:
    """The :class:`ArchSpec` of a zoo entry, an official/project arch JSON file, or a project checkpoint."""
    if name in ARCH_FILES:
        text = resources.files("litepose.models").joinpath("archs", ARCH_FILES[name]).read_text()
        return ArchSpec.from_official(json.loads(text), name=name, source=ARCH_FILES[name])
    if name.endswith((".pt", ".pth")) and Path(name).is_file():  # a project checkpoint carries its arch
        from litepose.models.checkpoint import FORMAT, read_checkpoint

        raw = read_checkpoint(name)
        if not (isinstance(raw, dict) and raw.get("format") == FORMAT and "arch" in raw):
            raise ValueError(f"{name}: not a litepose checkpoint with an arch inside; give a zoo name or an arch JSON")
        return ArchSpec.from_dict(raw["arch"], source=f"{name}: arch")
    if name.endswith(".json") or Path(name).is_file():
        return ArchSpec.from_json(name)
    raise ValueError(f"unknown model {name!r}; choose from {list_models()}, an arch JSON file or a litepose "
                     "checkpoint (.pt)")


def create_model(
    name: str | ArchSpec,
    num_keypoints: int = 14,
    weights: str | Path | None = None,
    *,
    width: float = 1.0,
    kernel_size: int | None = None,
    fusion: bool = True,
    input_size: int | None = None,
) -> LitePose:
    """Build a LitePose model, optionally loading weights.

    Args:
        name: zoo name (``litepose-xs|s|m|l``), an arch JSON path, or an :class:`ArchSpec`.
        num_keypoints: 14 (CrowdPose) or 17 (COCO), or any custom count.
        weights: an official checkpoint (any form the official code writes) or a project checkpoint;
            loaded strictly.
        width: uniform width multiplier (the paper's "0.5 LitePose" is ``width=0.5``).
        kernel_size: override every backbone depthwise kernel (paper ablation: 3/5/7/9).
        fusion: ``False`` builds the plain deconv head without the raw branches (paper ablation).
        input_size: override the default input size recorded in the spec.
    """
    spec = name if isinstance(name, ArchSpec) else get_arch(name)
    if width != 1.0:
        spec = spec.scaled(width)
    if kernel_size is not None:
        spec = spec.with_kernel_size(kernel_size)
    if not fusion:
        spec = spec.with_fusion(False)
    if input_size is not None:
        spec = spec.with_input_size(input_size)
    model = LitePose(spec, num_keypoints=num_keypoints)
    if weights is not None:
        from litepose.models.checkpoint import load_weights

        load_weights(model, weights)
    return model
