from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from litepose.data.augment import AugmentConfig
from litepose.training.config import (
    Config,
    ConfigError,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    load_config,
    save_config,
)

REPO = Path(__file__).resolve().parents[2]
# Training presets; configs/search/ holds search configs (tests/search checks those).
PRESETS = sorted(p for p in (REPO / "configs").rglob("*.yaml") if p.parent.name != "search")


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "cfg.yaml"
    p.write_text(text)
    return p


def test_partial_yaml_fills_defaults_and_types(tmp_path: Path) -> None:
    text = "optim:\n  lr: 1e-3\n  milestones: [5, 9]\ndata:\n  augment:\n    flip_prob: 0\n"
    cfg = load_config(write(tmp_path, text))
    assert cfg.optim.lr == pytest.approx(1e-3) and isinstance(cfg.optim.lr, float)  # YAML reads 1e-3 as str
    assert cfg.optim.milestones == (5, 9)
    assert isinstance(cfg.data.augment, AugmentConfig) and cfg.data.augment.flip_prob == 0.0
    assert cfg.model == Config().model


@pytest.mark.parametrize(("text", "needle"), [
    ("optim:\n  lrr: 0.1\n", "unknown key 'optim.lrr'; did you mean 'optim.lr'?"),
    ("trian:\n  seed: 1\n", "unknown key 'trian'; did you mean 'train'?"),
    ("data:\n  augment:\n    flip: 0.5\n", "unknown key 'data.augment.flip'"),
    ("optim:\n  epochs: ten\n", "optim.epochs: expected an integer, got 'ten'"),
    ("optim:\n  betas: [0.9]\n", "optim.betas: expected a list of 2 values"),
    ("optim:\n  schedule: linear\n", "optim.schedule: expected one of 'step', 'cosine'"),
    ("train:\n  amp: maybe\n", "train.amp: expected true or false"),
    ("optim:\n  lr: -1\n", "optim.lr must be positive"),
    ("data:\n  input_size: 100\n", "data.input_size must be a positive multiple of 32"),
    ("train:\n  val_detection_threshold: 1.5\n", "train.val_detection_threshold must be in [0, 1)"),
    ("- a\n- b\n", "must be a mapping of sections"),
])
def test_bad_config_names_file_and_key(tmp_path: Path, text: str, needle: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert needle in str(err.value)
    assert str(path) in str(err.value)


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.yaml"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "optim: [unclosed\n"))


def test_overrides_are_typed_by_field() -> None:
    cfg = apply_overrides(Config(), [
        "optim.lr=5e-4", "optim.milestones=[50,180]", "optim.grad_clip=1", "train.val_subset=null",
        "model.arch=configs/my arch.json", "train.output_dir=123", "train.amp=false", "optim.betas=[0.8,0.99]",
        "distill.teacher=runs/s/best.pt", "data.augment.max_rotation=15",
    ])
    assert cfg.optim.lr == 5e-4 and cfg.optim.milestones == (50, 180)
    assert cfg.optim.grad_clip == 1.0 and isinstance(cfg.optim.grad_clip, float)
    assert cfg.train.val_subset is None and cfg.train.amp is False
    assert cfg.model.arch == "configs/my arch.json"
    assert cfg.train.output_dir == "123"  # a str field keeps the text verbatim
    assert cfg.optim.betas == (0.8, 0.99)
    assert cfg.distill.teacher == "runs/s/best.pt"
    assert cfg.data.augment.max_rotation == 15.0
    assert apply_overrides(cfg, ["distill.teacher=null"]).distill.teacher is None


@pytest.mark.parametrize(("item", "needle"), [
    ("optim.lr", "expected KEY=VALUE"),
    ("optim.lrr=1", "did you mean 'optim.lr'"),
    ("optim=1", "is a section"),
    ("optim.lr.x=1", "'optim.lr' is not a section"),
    ("optim.epochs=1.5", "expected an integer"),
    ("data.augment.min_scale=3", "min_scale"),
])
def test_bad_overrides(item: str, needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        apply_overrides(Config(), [item])
    assert needle in str(err.value) and "--set" in str(err.value)


def test_round_trip_through_saved_yaml(tmp_path: Path) -> None:
    cfg = apply_overrides(Config(), ["optim.milestones=[3,4]", "train.time_budget_minutes=2.5",
                                     "model.width=0.5"])
    path = save_config(cfg, tmp_path / "config.yaml")
    assert load_config(path) == cfg
    assert config_from_dict(config_to_dict(cfg)) == cfg
    raw = yaml.safe_load(path.read_text())
    assert raw["optim"]["milestones"] == [3, 4]


def test_frozen() -> None:
    cfg = Config()
    with pytest.raises(AttributeError):
        cfg.optim.lr = 1.0  # type: ignore[misc]


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_shipped_preset_loads(path: Path) -> None:
    cfg = load_config(path)
    assert cfg.optim.optimizer == "adam"
    if path.parent.name in ("coco", "crowdpose") and path.stem.startswith("nas-"):
        # the NAS pipeline: pretrain (no AE loss) -> supernet -> (search) -> fine-tune
        assert cfg.model.num_keypoints == (17 if path.parent.name == "coco" else 14)
        assert cfg.model.supernet == (path.stem == "nas-2-supernet")
        assert (cfg.loss.push_factor == 0) == (path.stem == "nas-1-pretrain")
    elif path.parent.name in ("coco", "crowdpose") and "higherhrnet" in path.stem:
        # the official HigherHRNet experiment YAMLs: 300 epochs, x0.1 at 200 and 260, lr 1e-3 unscaled
        from litepose.models.zoo import get_spec

        assert cfg.model.arch == path.stem
        assert cfg.data.input_size == get_spec(path.stem).input_size == (640 if "w48" in path.stem else 512)
        assert cfg.model.num_keypoints == (17 if path.parent.name == "coco" else 14)
        assert cfg.optim.milestones == (200, 260) and cfg.optim.epochs == 300 and cfg.optim.lr == 1e-3
        assert cfg.optim.lr_reference_batch is None and cfg.optim.weight_decay == 0.0
        assert cfg.loss.push_factor == cfg.loss.pull_factor == 1e-3
    elif path.parent.name in ("coco", "crowdpose"):
        arch = path.stem
        assert cfg.model.arch == arch
        assert cfg.data.input_size == {"litepose-xs": 256, "litepose-s": 448, "litepose-m": 448,
                                       "litepose-l": 512}[arch]
        assert cfg.model.num_keypoints == (17 if path.parent.name == "coco" else 14)
        assert cfg.optim.milestones == (350, 480) and cfg.optim.epochs == 500
        assert cfg.optim.weight_decay == 0.0
        assert cfg.loss.push_factor == cfg.loss.pull_factor == 1e-3


def test_presets_cover_all_archs() -> None:
    names = {str(p.relative_to(REPO / "configs")) for p in PRESETS}
    for ds in ("coco", "crowdpose"):
        for a in ("xs", "s", "m", "l"):
            assert f"{ds}/litepose-{a}.yaml" in names
        assert {f"{ds}/higherhrnet-w32.yaml", f"{ds}/higherhrnet-w48.yaml"} <= names
    for name in ("w16", "shrink1", "shrink2", "shrink3", "w24"):
        assert f"crowdpose/scaled-higherhrnet-{name}.yaml" in names
    assert {"synthetic/demo.yaml", "synthetic/bench.yaml"} <= names


@pytest.mark.parametrize("recipe", ["demo", "bench"])
def test_synthetic_presets_equal_the_embedded_demo_recipes(recipe: str) -> None:
    from litepose.cli.demo import recipe_config

    assert load_config(REPO / "configs" / "synthetic" / f"{recipe}.yaml") == config_from_dict(recipe_config(recipe))
