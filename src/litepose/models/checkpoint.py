"""Checkpoint files: official LitePose checkpoints in every form, and the project's own format.

Official files (reference §1.7) are plain tensor dicts, possibly wrapped as
``{"state_dict": ..., "best_state_dict": ...}``, with ``module.`` (DDP) and/or ``1.`` (fp16
``Sequential(tofp16, net, tofp32)``) key prefixes, fp16 tensors, and supernet-only
``Linear5x5``/``Linear3x3`` keys. :func:`normalize_state_dict` undoes all of that; loading is then strict.

The project format embeds everything needed to rebuild the model::

    {"format": "litepose", "version": 1, "family": "litepose" | "higherhrnet" | "supernet",
     "arch": spec.to_dict(), "num_keypoints": J, "skeleton": Skeleton.to_dict() | None,
     "state_dict": {...}, "meta": {...}}

(files without ``family`` are LitePose networks; ``arch`` is the family's spec (:mod:`litepose.models.families`),
so :func:`load` rebuilds a LitePose or a HigherHRNet from the file alone; a supernet's ``arch`` is its
maximum network and it may carry the ``search_space`` it was trained on.) Official HigherHRNet files
(the LitePose repository's ``pose_higher_hrnet`` and the original HigherHRNet releases) come in the
same wrapper forms and load the same way.

Training checkpoints are supersets of this dict, so :func:`load` reads them too. Every file is read
with ``torch.load(weights_only=True)``: a pickle that would execute code is refused.
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from litepose.io import atomic_save_torch
from litepose.models.families import FAMILIES, LITEPOSE_FAMILY, PoseNetwork, build_network, spec_from_dict
from litepose.skeleton import Skeleton, get_skeleton

__all__ = [
    "FORMAT",
    "LITEPOSE_FAMILY",
    "CheckpointError",
    "LoadedCheckpoint",
    "checkpoint_dict",
    "cpu_state_dict",
    "keypoints_of",
    "load",
    "load_checkpoint",
    "load_weights",
    "normalize_state_dict",
    "read_checkpoint",
    "save",
    "select_state_dict",
]

FORMAT = "litepose"
VERSION = 1
_SUPERNET_ONLY = ("Linear5x5", "Linear3x3")  # OFA kernel-transform matrices, unused at k = 7


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used, with the reason in plain words."""


def read_checkpoint(path: str | Path) -> Any:
    """``torch.load`` with ``weights_only=True`` and errors that name the file."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"checkpoint {p} does not exist")
    if p.stat().st_size == 0:
        raise CheckpointError(f"{p}: not a readable PyTorch checkpoint: empty file")
    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        text = str(err)
        blocked = [line.strip() for line in text.splitlines() if "GLOBAL" in line]
        if blocked:
            raise CheckpointError(
                f"{p}: refused to load: the file holds Python objects that would run code when unpickled; "
                f"only tensors and plain containers are accepted ({blocked[0][:200]})") from None
        raise CheckpointError(f"{p}: not a readable PyTorch checkpoint (the weights-only unpickler rejects "
                              "its content: not a torch.save file, or a pickle with code)") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as err:
        reason = _first_sentence(str(err)) or type(err).__name__
        raise CheckpointError(f"{p}: not a readable PyTorch checkpoint, truncated or corrupt ({reason})") from None


def _first_sentence(text: str, limit: int = 200) -> str:
    """The first sentence of an error message (torch's go on with advice), cut at a word if too long."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    end = first.find(". ")
    if end >= 0:
        first = first[:end + 1]
    if len(first) > limit:
        first = first[:limit].rsplit(" ", 1)[0] + " ..."
    return first


def _is_tensor_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(
        isinstance(k, str) and isinstance(v, Tensor) for k, v in obj.items())


def select_state_dict(obj: Any, source: str) -> Mapping[str, Tensor]:
    if isinstance(obj, Mapping) and obj.get("format") == FORMAT:
        sd = obj.get("state_dict")
        if not _is_tensor_dict(sd):
            raise CheckpointError(f"{source}: litepose checkpoint without a valid 'state_dict'")
        return sd  # type: ignore[return-value]
    if isinstance(obj, Mapping):
        # Official checkpoint.pth.tar holds both: the best weights are what one evaluates/deploys.
        for key in ("best_state_dict", "state_dict", "model_state_dict"):
            if _is_tensor_dict(obj.get(key)):
                return obj[key]
        if _is_tensor_dict(obj):
            return obj
    raise CheckpointError(
        f"{source}: no weights found: expected a state_dict (name -> tensor), a dict with 'state_dict' or "
        f"'best_state_dict', or a litepose checkpoint; got {type(obj).__name__}"
        + (f" with keys {sorted(map(str, obj))[:8]}" if isinstance(obj, Mapping) else ""))


def normalize_state_dict(state: Mapping[str, Tensor], *, keep_supernet_keys: bool = False) -> dict[str, Tensor]:
    """Strip ``module.`` then ``1.`` prefixes, drop supernet-only keys (unless loading a supernet), cast
    floats to fp32."""
    items = dict(state)
    for prefix in ("module.", "1."):
        if items and all(k.startswith(prefix) for k in items):
            items = {k[len(prefix):]: v for k, v in items.items()}
    out = {}
    for k, v in items.items():
        if not keep_supernet_keys and any(tag in k for tag in _SUPERNET_ONLY):
            continue
        out[k] = v.float() if v.is_floating_point() else v
    return out


_STRIDE2_HEATMAP_KEYS = ("final_refined.1.conv.3.weight",  # LitePose, supernet
                         "final_layers.1.weight")  # HigherHRNet


def keypoints_of(state: Mapping[str, Tensor], source: str) -> int:
    """The joint count a (normalised) LitePose, HigherHRNet or supernet state_dict predicts (its stride-2
    heatmaps)."""
    for key in _STRIDE2_HEATMAP_KEYS:
        if key in state:
            return int(state[key].shape[0])
    raise CheckpointError(f"{source}: cannot read the joint count (no {' or '.join(_STRIDE2_HEATMAP_KEYS)}); "
                          "pass the joint count (--joints)")


# tensors whose shape depends on the joint count -> how many joint counts their first dimension holds
# (0: the HigherHRNet deconv, whose input is the features plus the 2J stride-4 predictions)
_JOINT_KEYS = {"final_refined.0.conv.3.weight": 2, "final_raw.0.conv.3.weight": 2,
               "final_refined.1.conv.3.weight": 1, "final_raw.1.conv.3.weight": 1,
               "final_layers.0.weight": 2, "final_layers.0.bias": 2, "final_layers.1.weight": 1,
               "final_layers.1.bias": 1, "deconv_layers.0.0.0.weight": 0}


def _mismatch_report(model: nn.Module, state: Mapping[str, Tensor], source: str) -> str | None:
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [(k, tuple(state[k].shape), tuple(v.shape)) for k, v in expected.items()
              if k in state and tuple(state[k].shape) != tuple(v.shape)]
    if not (missing or unexpected or shapes):
        return None

    def listing(keys: list[str]) -> str:
        shown = ", ".join(keys[:6])
        return shown + (f", … ({len(keys) - 6} more)" if len(keys) > 6 else "")

    lines = [f"{source}: the checkpoint does not fit this model"]
    if missing:
        lines.append(f"  {len(missing)} weights the model needs are missing from the file: {listing(missing)}")
    if unexpected:
        lines.append(f"  {len(unexpected)} weights in the file have no place in the model: {listing(unexpected)}")
    if shapes:
        desc = [f"{k} is {a} in the file but {b} in the model" for k, a, b in shapes[:6]]
        lines.append(f"  {len(shapes)} weights have a different shape: " + "; ".join(desc))
        joint_keys = [s for s in shapes if s[0] in _JOINT_KEYS]
        counted = [s for s in joint_keys if _JOINT_KEYS[s[0]]]
        if counted and len(joint_keys) == len(shapes):
            k, a, _ = counted[0]
            j_file = a[0] // _JOINT_KEYS[k]
            lines.append(f"  hint: the file predicts {j_file} keypoints; build the model with num_keypoints={j_file}")
        else:
            lines.append("  hint: the checkpoint was trained for a different architecture (check --arch / name)")
    return "\n".join(lines)


def load_weights(model: nn.Module, weights: str | Path | Mapping[str, Any], *, strict: bool = True,
                 source: str | None = None, keep_supernet_keys: bool = False) -> None:
    """Load official or project weights into ``model`` (strictly by default).

    ``keep_supernet_keys``: keep the ``Linear5x5``/``Linear3x3`` tensors (loading a supernet).
    """
    source = source or (str(weights) if not isinstance(weights, Mapping) else "state_dict")
    obj = read_checkpoint(weights) if not isinstance(weights, Mapping) else weights
    state = normalize_state_dict(select_state_dict(obj, source), keep_supernet_keys=keep_supernet_keys)
    if strict:
        report = _mismatch_report(model, state, source)
        if report:
            raise CheckpointError(report)
    model.load_state_dict(state, strict=strict)


def cpu_state_dict(model: nn.Module) -> dict[str, Tensor]:
    """A detached CPU copy of ``model.state_dict()`` (safe to save while training goes on)."""
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def checkpoint_dict(model: nn.Module, *, skeleton: Skeleton | None = None,
                    meta: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The project checkpoint dict for ``model`` (family, arch, joints, skeleton, weights, metadata)."""
    sk = skeleton if skeleton is not None else getattr(model, "skeleton", None)
    return {
        "format": FORMAT,
        "version": VERSION,
        "family": getattr(model, "family", LITEPOSE_FAMILY),
        "arch": model.spec.to_dict(),
        "num_keypoints": model.num_keypoints,
        "skeleton": sk.to_dict() if sk is not None else None,
        "state_dict": cpu_state_dict(model),
        "meta": dict(meta or {}),
    }


def save(model: nn.Module, path: str | Path, *, skeleton: Skeleton | None = None,
         meta: Mapping[str, Any] | None = None) -> Path:
    """Write ``model`` in the project format, atomically."""
    atomic_save_torch(checkpoint_dict(model, skeleton=skeleton, meta=meta), path)
    return Path(path)


@dataclass
class LoadedCheckpoint:
    model: PoseNetwork
    skeleton: Skeleton | None
    meta: dict[str, Any] = field(default_factory=dict)


def load_checkpoint(path: str | Path) -> LoadedCheckpoint:
    """Rebuild a model (and its skeleton and metadata) from a project checkpoint."""
    obj = read_checkpoint(path)
    source = str(path)
    if not (isinstance(obj, Mapping) and obj.get("format") == FORMAT):
        raise CheckpointError(
            f"{source}: not a litepose checkpoint (no arch inside). For an official LitePose checkpoint use "
            "create_model(NAME, num_keypoints=J, weights=PATH), or convert it once with "
            "`litepose convert FILE --arch NAME --joints J -o out.pt`")
    family = obj.get("family", LITEPOSE_FAMILY)
    if family not in FAMILIES:
        hint = (" (a supernet: extract a sub-network with `litepose extract`, or load it with "
                "litepose.models.supernet.load_supernet)") if family == "supernet" else ""
        raise CheckpointError(f"{source}: holds a {family} model, not a single pose network{hint}")
    for key in ("arch", "num_keypoints", "state_dict"):
        if key not in obj:
            raise CheckpointError(f"{source}: litepose checkpoint is missing the field {key!r}")
    try:
        spec = spec_from_dict(obj["arch"], str(family), source=f"{source}: arch")
        skeleton = Skeleton.from_dict(obj["skeleton"], source=f"{source}: skeleton") if obj.get("skeleton") else None
    except ValueError as err:
        raise CheckpointError(str(err)) from None
    model = build_network(spec, int(obj["num_keypoints"]))
    load_weights(model, obj, source=source)
    if skeleton is None:
        try:
            skeleton = get_skeleton(model.num_keypoints)
        except ValueError:
            skeleton = None
    model.skeleton = skeleton  # convenience for predictors; not part of the module state
    model.eval()
    return LoadedCheckpoint(model, skeleton, dict(obj.get("meta") or {}))


def load(path: str | Path) -> PoseNetwork:
    """A ready-to-use model (eval mode) from a project checkpoint; ``model.skeleton`` is set."""
    return load_checkpoint(path).model
