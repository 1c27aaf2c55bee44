"""Models: LitePose (spec, layers, network), the zoo, checkpoints and the complexity profiler."""

from litepose.models.litepose import LitePose, LitePoseOutput
from litepose.models.spec import ArchSpec, BlockSpec, StageSpec
from litepose.models.zoo import create_model, get_arch, list_models

__all__ = ["ArchSpec", "BlockSpec", "LitePose", "LitePoseOutput", "StageSpec", "create_model", "get_arch",
           "list_models"]
