"""Model families: which network class a spec or a checkpoint belongs to, and how to rebuild it.

Every pose network of the project maps an image to the same :class:`~litepose.models.LitePoseOutput`
(stride-4 heatmaps + per-joint tags, stride-2 heatmaps), carries a frozen ``spec`` (``name``,
``input_size``, ``to_dict()``) and a ``family`` name. A project checkpoint records both, so
:func:`litepose.load` rebuilds any family from the file alone:

============  ==================================================  =========================================
family        network / spec                                      zoo names
============  ==================================================  =========================================
litepose      :class:`~litepose.models.LitePose` / ``ArchSpec``   ``litepose-xs|s|m|l``
higherhrnet   :class:`~litepose.models.higherhrnet.HigherHRNet`   ``scaled-higherhrnet-*``, ``higherhrnet-*``
              / ``HigherHRNetSpec``
supernet      :class:`~litepose.models.supernet.SuperLitePose`    (``litepose.load_supernet``; not a single
                                                                  network, so not rebuilt here)
============  ==================================================  =========================================
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from litepose.models.higherhrnet import HIGHERHRNET_FAMILY, HigherHRNet, HigherHRNetSpec
from litepose.models.litepose import LitePose
from litepose.models.spec import ArchSpec

__all__ = [
    "FAMILIES",
    "HIGHERHRNET_FAMILY",
    "LITEPOSE_FAMILY",
    "PoseNetwork",
    "PoseSpec",
    "build_network",
    "family_of",
    "spec_from_dict",
]

LITEPOSE_FAMILY = "litepose"

PoseNetwork = LitePose | HigherHRNet
PoseSpec = ArchSpec | HigherHRNetSpec

#: family -> (spec class, network class)
FAMILIES: dict[str, tuple[type, type[nn.Module]]] = {
    LITEPOSE_FAMILY: (ArchSpec, LitePose),
    HIGHERHRNET_FAMILY: (HigherHRNetSpec, HigherHRNet),
}


def family_of(obj: nn.Module | PoseSpec) -> str:
    """The family of a network or a spec (a module without ``family`` is a LitePose)."""
    if isinstance(obj, HigherHRNetSpec):
        return HIGHERHRNET_FAMILY
    if isinstance(obj, ArchSpec):
        return LITEPOSE_FAMILY
    return str(getattr(obj, "family", LITEPOSE_FAMILY))


def spec_from_dict(raw: Mapping[str, Any], family: str | None = None, *, source: str = "arch") -> PoseSpec:
    """Parse a project-format spec; ``family`` defaults to the dict's own ``family`` key, else LitePose."""
    family = family or str(raw.get("family", LITEPOSE_FAMILY))
    if family not in FAMILIES:
        raise ValueError(f"{source}: unknown model family {family!r}; known: {sorted(FAMILIES)}")
    spec_cls = FAMILIES[family][0]
    body = raw if family != LITEPOSE_FAMILY else {k: v for k, v in raw.items() if k != "family"}
    return spec_cls.from_dict(body, source=source)  # type: ignore[attr-defined, no-any-return]


def build_network(spec: PoseSpec, num_keypoints: int) -> PoseNetwork:
    """The network of ``spec`` (its family's class) with fresh weights."""
    if isinstance(spec, HigherHRNetSpec):
        return HigherHRNet(spec, num_keypoints=num_keypoints)
    return LitePose(spec, num_keypoints=num_keypoints)
