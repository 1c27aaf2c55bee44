"""`litepose export`: what it prints, every kind of MODEL, and one-line errors before anything is loaded."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
import torch

import litepose
from litepose.cli import main
from litepose.export.onnx import read_metadata
from litepose.models.checkpoint import save
from litepose.models.litepose import LitePose
from litepose.models.spec import ArchSpec, BlockSpec, StageSpec
from litepose.runtime.metadata import ModelMetadata
from litepose.runtime.sessions import openvino_core

TINY = ArchSpec(16, tuple(StageSpec(c, s, (BlockSpec(2, 3),)) for c, s in ((16, 2), (24, 2), (32, 2), (48, 1))),
                (16, 16, 16), 64, name="tiny")


@pytest.fixture(autouse=True)
def _threads() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("export-cli")
    torch.manual_seed(0)
    model = LitePose(TINY, num_keypoints=17).eval()
    arch = root / "tiny.json"
    TINY.to_json(arch)
    save(model, root / "tiny.pt", skeleton=litepose.get_skeleton("coco"))
    torch.save({"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}, root / "official.pth.tar")
    torch.save({"format": "litepose", "version": 1, "family": "supernet", "arch": {}, "num_keypoints": 17,
                "state_dict": {}}, root / "supernet.pt")
    (root / "corrupt.pt").write_bytes(b"PK\x03\x04 not really a zip")
    return {"root": root, "ckpt": root / "tiny.pt", "official": root / "official.pth.tar", "arch": arch,
            "supernet": root / "supernet.pt", "corrupt": root / "corrupt.pt"}


def error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_export_prints_the_file_its_size_error_and_precision(files: dict[str, Path], tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "tiny.onnx"
    assert main(["export", str(files["ckpt"]), "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"wrote {out} (" in text and " MiB)" in text
    assert "onnx fp32" in text and "input N x 3 x 64 x 64" in text and "BatchNorm folded" in text
    assert "max relative error vs PyTorch: stride4 " in text and "(bound 1e-04, random inputs)" in text
    meta = read_metadata(out)
    assert meta.skeleton.name == "coco" and meta.arch == TINY.to_dict() and meta.input_size == (64, 64)


def test_openvino_dynamic_export(files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "tiny.xml"
    assert main(["export", str(files["ckpt"]), "--format", "openvino", "--dynamic", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"wrote {out} + {out.with_suffix('.bin')}" in text and "inference precision f32" in text
    assert "input N x 3 x H x W (dynamic; traced at 64x64)" in text


def test_official_checkpoint_with_arch(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "official.onnx"
    assert main(["export", str(files["official"]), "--arch", str(files["arch"]), "--input-size", "96",
                 "-o", str(out)]) == 0
    meta = read_metadata(out)
    assert meta.num_keypoints == 17 and meta.input_size == (96, 96) and meta.test_size == 64
    assert meta.skeleton.name == "coco"  # by joint count


def test_zoo_name_exports_random_weights_with_a_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "xs.onnx"
    assert main(["export", "litepose-xs", "--input-size", "64", "--joints", "14", "-o", str(out)]) == 0
    assert "RANDOM weights" in capsys.readouterr().err
    meta = read_metadata(out)
    assert meta.num_keypoints == 14 and meta.skeleton.name == "crowdpose" and meta.test_size == 256
    assert not any(n.op_type == "BatchNormalization" for n in onnx.load(out).graph.node)


@pytest.mark.parametrize(("args", "message"), [
    (["--dynamic", "--input-size", "64"], "give --input-size N (a fixed size) or --dynamic, not both"),
    (["--input-size", "70"], "--input-size must be a positive multiple of 32, got 70"),
    (["--precision", "bf16"], "--precision bf16 is not supported with --format onnx: onnxruntime's CPU provider "
                              "has no bf16 convolution kernels; use --format openvino --precision bf16"),
    (["--precision", "fp16"], "--precision fp16 is not supported with --format onnx"),
    (["--precision", "int8"], "--precision int8 needs calibration images: --calib DIR"),
    (["--calib", "somewhere"], "--calib is used by --precision int8 only (got --precision fp32)"),
    (["--precision", "int8", "--calib", "x", "--calib-images", "0"], "--calib-images must be >= 1, got 0"),
    (["--precision", "int8", "--calib", "x", "--float-layers", "tail"], "--float-layers 'tail': use head, stem"),
    (["--opset", "13"], "--opset must be >= 17, got 13"),
    (["--format", "openvino"], "-o {out}: an OpenVINO IR export is written to a .xml file"),
])
def test_bad_options_are_one_line_before_anything_is_loaded(
        args: list[str], message: str, files: dict[str, Path], tmp_path: Path, no_model: None,
        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "m.onnx"
    assert main(["export", str(files["ckpt"]), *args, "-o", str(out)]) == 2
    assert error_line(capsys).startswith(f"litepose export: error: {message.format(out=out)}")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("model", "message"), [
    ("supernet", "holds a supernet model, not a single pose network (a supernet: extract a sub-network with "
                 "`litepose extract`"),
    ("corrupt", "not a readable PyTorch checkpoint"),
    ("official", "an official checkpoint (no architecture inside): give --arch NAME|ARCH.json"),
])
def test_checkpoints_that_cannot_be_exported(model: str, message: str, files: dict[str, Path], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", str(files[model]), "-o", str(tmp_path / "m.onnx")]) == 2
    assert message in error_line(capsys)
    assert list(tmp_path.iterdir()) == []


def test_models_that_are_not_checkpoints(files: dict[str, Path], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    onnx_file = tmp_path / "m.onnx"
    assert main(["export", str(files["ckpt"]), "-o", str(onnx_file)]) == 0
    capsys.readouterr()
    cases = [([str(onnx_file)], "an exported model; `litepose export` needs a PyTorch checkpoint"),
             (["litepose-xxl"], "unknown model 'litepose-xxl': not a checkpoint file nor a zoo name"),
             ([str(tmp_path / "missing.pt")], "no such checkpoint file"),
             ([str(files["ckpt"]), "--arch", "litepose-xs"], "is a litepose checkpoint and carries its architecture"),
             ([str(files["ckpt"]), "--joints", "14"], "--joints 14: ")]
    for argv, message in cases:
        assert main(["export", *argv, "-o", str(tmp_path / "other.onnx")]) == 2
        assert message in error_line(capsys), argv
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def test_outputs_never_overwrite_inputs(files: dict[str, Path], tmp_path: Path, no_model: None,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    before = files["ckpt"].read_bytes()
    renamed = tmp_path / "tiny.onnx"
    renamed.write_bytes(before)  # a checkpoint under an exported model's name
    xml_input = tmp_path / "w.bin"
    xml_input.write_bytes(before)
    skeleton = tmp_path / "skeleton.onnx"  # any input file the output could name
    skeleton.write_text("{}")
    for argv, message in [
            ([str(renamed), "-o", str(renamed)], "an exported model"),
            ([str(xml_input), "--format", "openvino", "-o", str(tmp_path / "w.xml")], "an exported model"),
            ([str(files["ckpt"]), "--skeleton", str(skeleton), "-o", str(skeleton)], "is the input")]:
        assert main(["export", *argv]) == 2
        assert message in error_line(capsys)
    assert renamed.read_bytes() == before and files["ckpt"].read_bytes() == before
    assert skeleton.read_text() == "{}"


def test_openvino_weights_file_is_checked_too(files: dict[str, Path], tmp_path: Path, no_model: None,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = tmp_path / "model.bin"  # a checkpoint whose name the .bin of model.xml would take
    ckpt.write_bytes(files["ckpt"].read_bytes())
    # the .bin suffix marks an exported file, so this MODEL is refused before its weights could be overwritten
    assert main(["export", str(ckpt), "--format", "openvino", "-o", str(tmp_path / "model.xml")]) == 2
    assert "model.bin" in error_line(capsys)


def test_calibration_folder_checked_before_loading(files: dict[str, Path], tmp_path: Path, no_model: None,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    calib = tmp_path / "calib"
    calib.mkdir()
    argv = ["export", str(files["ckpt"]), "--precision", "int8", "--calib", str(calib), "-o", str(tmp_path / "q.onnx")]
    assert main(argv) == 2
    assert "no image files" in error_line(capsys)
    (calib / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    assert main(argv) == 2
    assert "--calib " + str(calib) + ": none of the 1 image files could be read" in error_line(capsys)
    assert main([*argv[:5], str(tmp_path / "missing"), "-o", str(tmp_path / "q.onnx")]) == 2
    assert "no such folder" in error_line(capsys)


def test_int8_export_reports_calibration_and_float_layers(files: dict[str, Path], tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from litepose.data.synthetic import generate_dataset
    from litepose.export.openvino_ir import int8_inference_precision

    ann = generate_dataset(tmp_path / "calib", 3, "coco", seed=1, image_size=(64, 48), min_people=1, max_people=1,
                           min_height=30.0, max_height=40.0, crowd_prob=0.0)
    out = tmp_path / "q.xml"
    assert main(["export", str(files["ckpt"]), "--format", "openvino", "--precision", "int8", "--calib",
                 str(ann.parent), "--float-layers", "head,stem", "--no-progress", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    hint = int8_inference_precision()  # bf16 where the CPU has it
    assert f"openvino int8: NNCF int8, float parts at inference precision {hint}" in text
    assert "calibrated on 3 images; kept in float: " in text and "/first/" in text  # the stem's conv
    assert "Statistics collection" not in text  # NNCF's progress bar stays out of the report
    meta = read_metadata_ir(out)
    assert meta.precision == "int8" and meta.extra["int8"]["float_layer_groups"] == ["head", "stem"]
    assert meta.extra["int8"]["calibration_images"] == 3


def read_metadata_ir(path: Path) -> ModelMetadata:

    from litepose.export.openvino_ir import read_ir_metadata

    return read_ir_metadata(openvino_core().read_model(path))
