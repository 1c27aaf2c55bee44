"""What each design-space experiment compares: its variants (networks), the paper's numbers and claim.

=============  ===================================================================================
experiment     variants (paper section; the paper's AP on CrowdPose and paper-convention GMACs at 512)
=============  ===================================================================================
shrinking      Scaled-HigherHRNet-W16 C1 and its gradual-shrinking variants C2, C3, C4 (§3.2, Fig. 3:
               50.4 / 51.0 / 51.8 / 53.0 AP at 12.50 / 10.12 / 10.02 / 9.15 GMACs): removing
               high-resolution blocks *raises* AP while MACs fall.
kernel         0.5 LitePose (the supernet's max network at half width, the paper's ablation model)
               with 3×3 / 5×5 / 7×7 / 9×9 depthwise kernels (§3.4, Table 3, Fig. 7: 41.7 / 50.7 / 54.7
               AP at 3.8 / 4.1 / 4.7 GMACs; 9×9 is worse than 7×7, no number given).
fusion         0.5 LitePose with the fusion deconv head and without it (the official
               ``pose_simplenet`` head) (§3.3, Table 3: 54.7 vs 47.1 AP at 4.7 vs 4.1 GMACs).
single-branch  LitePose-L vs Scaled-HigherHRNet-W16 (§3.5: +11.6 AP, "similar latency ... with even
               larger MACs"): the latency comparison, on torch and on the fastest exported backend.
=============  ===================================================================================

Each variant is a resolved spec (:class:`~litepose.models.spec.ArchSpec` or
:class:`~litepose.models.higherhrnet.HigherHRNetSpec`), so the runner can write it as an arch file
the trainer reads and rebuild the exact network for profiling. ``kernel`` and ``fusion`` take another
base LitePose architecture on request (``base``: a zoo name, an arch file or an ``ArchSpec``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from litepose.models.families import PoseSpec
from litepose.models.higherhrnet import HIGHERHRNET_ZOO
from litepose.models.space import SUPERNET_ARCH
from litepose.models.spec import ArchSpec

__all__ = ["EXPERIMENTS", "HALF_LITEPOSE", "REFERENCE_SIZE", "Experiment", "Variant", "get_experiment"]

#: The paper's "0.5 LitePose": every width of the supernet's max network halved (make_divisible 8). At 512
#: its paper-convention MACs are Table 3's: 3.77 / 4.14 / 4.69 G for 3x3 / 5x5 / 7x7, 4.06 G without fusion.
HALF_LITEPOSE = replace(SUPERNET_ARCH.scaled(0.5), name="litepose-0.5")
#: The input side the paper's MACs (and so this project's MACs and latency columns) refer to.
REFERENCE_SIZE = 512


@dataclass(frozen=True)
class Variant:
    """One network of an experiment.

    Attributes:
        key: short identifier, also the folder name of its runs (``c1``, ``k7``, ``fusion-on``).
        label: what tables and plots call it.
        spec: the network.
        paper_ap: the paper's AP for it (CrowdPose test), when the paper gives one.
        paper_gmacs: the paper's MACs for it in G (paper convention, at 512), when given.
    """

    key: str
    label: str
    spec: PoseSpec
    paper_ap: float | None = None
    paper_gmacs: float | None = None


@dataclass(frozen=True)
class Experiment:
    """A design-space experiment.

    Attributes:
        name: ``shrinking``, ``kernel``, ``fusion`` or ``single-branch``.
        title: the figure title.
        claim: what the paper concludes, in one sentence (the report says whether it reproduces).
        variants: the networks compared, in the paper's order.
        exported_latency: also time the fastest exported backend (not only eager PyTorch).
    """

    name: str
    title: str
    claim: str
    variants: tuple[Variant, ...]
    exported_latency: bool = False

    def variant(self, key: str) -> Variant:
        for v in self.variants:
            if v.key == key:
                return v
        raise KeyError(f"{self.name}: no variant {key!r}; it has {[v.key for v in self.variants]}")

    @property
    def paper_order(self) -> tuple[str, ...]:
        """Variant keys from the paper's best AP to its worst (only the variants the paper gives an AP for)."""
        rated = [v for v in self.variants if v.paper_ap is not None]
        return tuple(v.key for v in sorted(rated, key=lambda v: -float(v.paper_ap or 0.0)))


def _shrinking() -> Experiment:
    names = ("scaled-higherhrnet-w16", "scaled-higherhrnet-shrink1", "scaled-higherhrnet-shrink2",
             "scaled-higherhrnet-shrink3")
    labels = ("C1 Scaled-HigherHRNet-W16", "C2 Shrink1", "C3 Shrink2", "C4 Shrink3")
    paper = ((50.4, 12.50), (51.0, 10.12), (51.8, 10.02), (53.0, 9.15))
    variants = tuple(Variant(f"c{i + 1}", label, HIGHERHRNET_ZOO[name], ap, gmacs)
                     for i, (name, label, (ap, gmacs)) in enumerate(zip(names, labels, paper, strict=True)))
    return Experiment("shrinking", "Gradual shrinking of Scaled-HigherHRNet-W16 (paper Fig. 3)",
                      "shrinking the high-resolution branches raises AP while MACs fall (C4 > C3 > C2 > C1)",
                      variants)


def _kernel(base: ArchSpec) -> Experiment:
    paper = {3: (41.7, 3.8), 5: (50.7, 4.1), 7: (54.7, 4.7), 9: (None, None)}
    variants = tuple(Variant(f"k{k}", f"{k}x{k} kernels", replace(base.with_kernel_size(k), name=f"{base.name}-k{k}"),
                             *paper[k]) for k in (3, 5, 7, 9))
    return Experiment("kernel", f"Depthwise kernel size of {base.name} (paper Fig. 7, Table 3)",
                      "7x7 kernels beat 3x3 by 13 AP for about 25% more MACs; 9x9 is worse again", variants)


def _fusion(base: ArchSpec) -> Experiment:
    variants = (Variant("fusion-on", "fusion deconv head", replace(base.with_fusion(True), name=base.name), 54.7, 4.7),
                Variant("fusion-off", "plain deconv head (w/o fusion)", base.with_fusion(False), 47.1, 4.1))
    return Experiment("fusion", f"Fusion deconv head of {base.name} (paper Fig. 5/6, Table 3)",
                      "the fusion deconv head adds 7.6 AP for a few percent more MACs", variants)


def _single_branch() -> Experiment:
    from litepose.models.zoo import get_arch

    variants = (Variant("litepose-l", "LitePose-L (single branch)", get_arch("litepose-l"), 61.9, 13.7),
                Variant("w16", "Scaled-HigherHRNet-W16 (multi-branch)", HIGHERHRNET_ZOO["scaled-higherhrnet-w16"],
                        50.4, 12.5))
    return Experiment("single-branch", "Single branch vs multi-branch latency (paper §3.5)",
                      "LitePose-L runs about as fast as Scaled-HigherHRNet-W16 despite more MACs (and +11.6 AP)",
                      variants, exported_latency=True)


EXPERIMENTS: tuple[str, ...] = ("shrinking", "kernel", "fusion", "single-branch")


def get_experiment(name: str, base: str | ArchSpec | None = None, *, only: Sequence[str] | None = None) -> Experiment:
    """The experiment ``name``.

    Args:
        name: one of :data:`EXPERIMENTS`.
        base: the LitePose architecture of ``kernel`` and ``fusion`` (default :data:`HALF_LITEPOSE`, the
            paper's); a zoo name, an arch file or an ``ArchSpec``. Not accepted by the other experiments.
        only: keep these variant keys (in the experiment's order), e.g. a quick check of two kernels.
    """
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose from {', '.join(EXPERIMENTS)}")
    if base is not None and name not in ("kernel", "fusion"):
        raise ValueError(f"--arch applies to the kernel and fusion experiments, not to {name}")
    if name in ("kernel", "fusion"):
        if base is None:
            arch = HALF_LITEPOSE
        elif isinstance(base, ArchSpec):
            arch = base
        else:
            from litepose.models.zoo import get_arch

            arch = get_arch(base)
        experiment = _kernel(arch) if name == "kernel" else _fusion(arch)
    else:
        experiment = _shrinking() if name == "shrinking" else _single_branch()
    if only is not None:
        keys = [v.key for v in experiment.variants]
        unknown = [k for k in only if k not in keys]
        if unknown or not only:
            raise ValueError(f"{name}: unknown variants {unknown or list(only)}; choose from {keys}")
        experiment = replace(experiment, variants=tuple(v for v in experiment.variants if v.key in set(only)))
    return experiment
