"""The model zoo: the official configurations by name, and the one public factory.

``litepose-xs/s/m/l`` are the official ``mobile_configs/search-{XS,S,M,L}.json`` (shipped verbatim in
``models/archs/``) with their input sizes 256/448/448/512. The paper's baselines are HigherHRNet-family
networks (:mod:`litepose.models.higherhrnet`): ``scaled-higherhrnet-w16`` and its gradual-shrinking
variants ``-shrink1/2/3``, ``scaled-higherhrnet-w24``, and the original ``higherhrnet-w32`` (512) and
``higherhrnet-w48`` (640). :func:`create_model` builds any of them; every family returns the same
:class:`~litepose.models.LitePoseOutput`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

from litepose.config_io import read_yaml
from litepose.models.families import FAMILIES, LITEPOSE_FAMILY, PoseNetwork, PoseSpec, build_network, spec_from_dict
from litepose.models.higherhrnet import HIGHERHRNET_FAMILY, HIGHERHRNET_ZOO, HigherHRNetSpec
from litepose.models.spec import ArchSpec

__all__ = ["ARCH_FILES", "create_model", "get_arch", "get_spec", "list_models"]

# name -> official arch JSON shipped in litepose/models/archs/
ARCH_FILES: dict[str, str] = {
    "litepose-xs": "search-XS.json",
    "litepose-s": "search-S.json",
    "litepose-m": "search-M.json",
    "litepose-l": "search-L.json",
}


def list_models(family: str | None = None) -> list[str]:
    """Names accepted by :func:`create_model` (LitePose smallest first, then the HigherHRNet baselines);
    ``family`` (``litepose`` or ``higherhrnet``) keeps one family."""
    if family is not None and family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r}; choose from {sorted(FAMILIES)}")
    names = {LITEPOSE_FAMILY: list(ARCH_FILES), HIGHERHRNET_FAMILY: list(HIGHERHRNET_ZOO)}
    return names[family] if family is not None else [n for group in names.values() for n in group]


def get_spec(name: str) -> PoseSpec:
    """The spec of a zoo entry, an arch file (official LitePose JSON, project JSON of any family, or an
    official ``pose_higher_hrnet`` experiment YAML), or a project checkpoint."""
    if name in ARCH_FILES:
        text = resources.files("litepose.models").joinpath("archs", ARCH_FILES[name]).read_text()
        return ArchSpec.from_official(json.loads(text), name=name, source=ARCH_FILES[name])
    if name in HIGHERHRNET_ZOO:
        return HIGHERHRNET_ZOO[name]
    path = Path(name)
    if name.endswith((".pt", ".pth")) and path.is_file():  # a project checkpoint carries its arch
        from litepose.models.checkpoint import FORMAT, read_checkpoint

        raw = read_checkpoint(name)
        if not (isinstance(raw, dict) and raw.get("format") == FORMAT and "arch" in raw):
            raise ValueError(f"{name}: not a litepose checkpoint with an arch inside; give a zoo name or an arch JSON")
        family = str(raw.get("family", LITEPOSE_FAMILY))
        family = LITEPOSE_FAMILY if family == "supernet" else family  # a supernet's arch is its max network
        return spec_from_dict(raw["arch"], family, source=f"{name}: arch")
    if name.endswith((".yaml", ".yml")) and path.is_file():
        return _official_experiment_spec(path)
    if name.endswith(".json") or path.is_file():
        return _arch_json(path)
    raise ValueError(f"unknown model {name!r}; choose from {list_models()}, an arch JSON file or a litepose "
                     "checkpoint (.pt)")


def get_arch(name: str) -> ArchSpec:
    """The :class:`ArchSpec` of a LitePose zoo entry, arch JSON file or project checkpoint."""
    spec = get_spec(name)
    if not isinstance(spec, ArchSpec):
        raise ValueError(f"{name}: a {HIGHERHRNET_FAMILY} model, not a LitePose architecture")
    return spec


def _arch_json(path: Path) -> PoseSpec:
    if not path.is_file():
        raise FileNotFoundError(f"arch file {path} does not exist")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    if isinstance(raw, Mapping) and raw.get("family", LITEPOSE_FAMILY) != LITEPOSE_FAMILY:
        spec = spec_from_dict(raw, source=str(path))
        return spec if "name" in raw else replace(spec, name=path.stem)
    return ArchSpec.from_json(path)


def _official_experiment_spec(path: Path) -> HigherHRNetSpec:
    """The network of an official ``pose_higher_hrnet`` experiment YAML (``MODEL.EXTRA``, input size)."""
    cfg: Any = read_yaml(path)
    model = cfg.get("MODEL") if isinstance(cfg, Mapping) else None
    if not isinstance(model, Mapping) or model.get("NAME") != "pose_higher_hrnet" or "EXTRA" not in model:
        raise ValueError(f"{path}: not an official pose_higher_hrnet experiment YAML (MODEL.NAME "
                         "pose_higher_hrnet with MODEL.EXTRA); LitePose architectures are arch JSON files")
    size = (cfg.get("DATASET") or {}).get("INPUT_SIZE", 512)
    return HigherHRNetSpec.from_official(model["EXTRA"], input_size=int(size), name=path.stem, source=str(path))


def create_model(
    name: str | PoseSpec,
    num_keypoints: int = 14,
    weights: str | Path | None = None,
    *,
    width: float = 1.0,
    kernel_size: int | None = None,
    fusion: bool = True,
    input_size: int | None = None,
) -> PoseNetwork:
    """Build a pose network of any family, optionally loading weights.

    Args:
        name: zoo name (``litepose-xs|s|m|l``, ``scaled-higherhrnet-w16|shrink1|shrink2|shrink3|w24``,
            ``higherhrnet-w32|w48``), an arch file, or a spec (:class:`ArchSpec`, ``HigherHRNetSpec``).
        num_keypoints: 14 (CrowdPose) or 17 (COCO), or any custom count.
        weights: an official checkpoint (any form the official code writes) or a project checkpoint;
            loaded strictly.
        width: uniform width multiplier (the paper's "0.5 LitePose" is ``width=0.5``); LitePose only.
        kernel_size: override every backbone depthwise kernel (paper ablation: 3/5/7/9); LitePose only.
        fusion: ``False`` builds the plain deconv head without the raw branches (paper ablation); LitePose only.
        input_size: override the default input size recorded in the spec.
    """
    spec = name if isinstance(name, ArchSpec | HigherHRNetSpec) else get_spec(name)
    if isinstance(spec, ArchSpec):
        if width != 1.0:
            spec = spec.scaled(width)
        if kernel_size is not None:
            spec = spec.with_kernel_size(kernel_size)
        if not fusion:
            spec = spec.with_fusion(False)
    else:
        knobs = [k for k, changed in (("width", width != 1.0), ("kernel_size", kernel_size is not None),
                                      ("fusion", not fusion)) if changed]
        if knobs:
            raise ValueError(f"{spec.name}: {', '.join(knobs)} appl{'ies' if len(knobs) == 1 else 'y'} to "
                             "LitePose architectures only, not to a HigherHRNet")
    if input_size is not None:
        spec = spec.with_input_size(input_size)
    model = build_network(spec, num_keypoints)
    if weights is not None:
        from litepose.models.checkpoint import load_weights

        load_weights(model, weights)
    return model
