from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The read-only real samples (COCO and CrowdPose) beside the repository."""
    if not (SHARED_DATA / "coco-sample").is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


@pytest.fixture(scope="session")
def synthetic_samples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`litepose synth` stand-ins for ``shared_data``, in the same layout, so that tests on the real
    samples also run where ../shared/data is absent. Small images, 2-5 people, crowd blobs; the
    CrowdPose images' crowd indices (0.0 to 1.63) fill the easy, medium and hard splits."""
    from litepose.data.synthetic import SynthConfig, synthesize

    root = tmp_path_factory.mktemp("synthetic-samples")
    config = SynthConfig(image_size=(320, 256), min_people=2, max_people=5, min_height=80.0, max_height=250.0,
                         crowd_prob=0.5)
    synthesize(root / "coco-sample", 6, "coco", seed=5, config=config, annotation_name="person_keypoints.json")
    synthesize(root / "crowdpose-sample", 6, "crowdpose", seed=5, config=config,
               annotation_name="crowdpose_keypoints.json")
    return root
