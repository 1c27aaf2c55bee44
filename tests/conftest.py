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
