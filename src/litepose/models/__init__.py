"""Models: LitePose (spec, layers, network), the HigherHRNet baselines, the zoo, checkpoints and the
complexity profiler."""

from litepose.models.higherhrnet import HigherHRNet, HigherHRNetSpec
from litepose.models.litepose import LitePose, LitePoseOutput
from litepose.models.spec import ArchSpec, BlockSpec, StageSpec
from litepose.models.zoo import create_model, get_arch, get_spec, list_models

__all__ = ["ArchSpec", "BlockSpec", "HigherHRNet", "HigherHRNetSpec", "LitePose", "LitePoseOutput", "StageSpec",
           "create_model", "get_arch", "get_spec", "list_models"]
