"""The runtime path without PyTorch: a process where ``import torch`` fails runs exported files through the
Predictor, draws, writes JSON, and runs ``litepose predict``, ``eval`` and ``bench`` on them."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

SCRIPT = textwrap.dedent('''
    import json, sys
    sys.modules["torch"] = None  # `import torch` (and of any torch.*) now raises ImportError
    from pathlib import Path

    import cv2

    import litepose
    from litepose import Predictor
    from litepose.cli import main
    from litepose.evaluation.results import write_results

    onnx, xml, images, ann, out = (Path(a) for a in sys.argv[1:6])
    image = sorted(images.glob("*.jpg"))[0]
    found = {}
    for path in (onnx, xml):
        predictor = Predictor(path)
        result = predictor(image)
        assert cv2.imwrite(str(out / (path.suffix[1:] + ".png")), result.plot(bgr=True))
        write_results(out / (path.suffix[1:] + ".json"), result.to_coco(1))
        found[path.suffix] = {"backend": predictor.backend.name, "keypoints": result.keypoints.tolist(),
                              "scores": result.scores.tolist()}
    codes = {
        "predict": main(["predict", str(images), "--model", str(onnx), "--out", str(out / "predict"), "--json"]),
        "predict-openvino": main(["predict", str(image), "--model", str(onnx), "--backend", "openvino",
                                  "--threads", "1", "--out", str(out / "predict-ov"), "--json"]),
        "eval": main(["eval", "--ann", str(ann), "--images", str(images), "--model", str(xml),
                      "--out", str(out / "eval.json")]),
        "bench": main(["bench", str(onnx), str(xml), "--repeats", "2", "--warmup", "1"]),
    }
    torch_modules = sorted(m for m, mod in sys.modules.items() if m.split(".")[0] == "torch" and mod is not None)
    print(json.dumps({"found": found, "codes": codes, "torch_modules": torch_modules}))
''')

EXPECTED = textwrap.dedent('''
    import json, sys
    import torch  # noqa: F401  (importable here: the reference run)
    from litepose import Predictor

    onnx, xml, image = sys.argv[1:4]
    out = {}
    for path, suffix in ((onnx, ".onnx"), (xml, ".xml")):
        result = Predictor(path)(image)
        out[suffix] = {"keypoints": result.keypoints.tolist(), "scores": result.scores.tolist()}
    print(json.dumps(out))
''')


@pytest.mark.own_process
def test_exported_files_run_without_torch(trained: SimpleNamespace, exported: SimpleNamespace, tmp_path: Path) -> None:
    images = trained.paths[0].parent
    ann = trained.root / "annotations.json"
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(exported.onnx), str(exported.xml), str(images), str(ann),
                           str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["torch_modules"] == []
    assert report["codes"] == {"predict": 0, "predict-openvino": 0, "eval": 0, "bench": 0}
    # the same people as a process with torch importable finds with the same files (in a fresh process too:
    # OpenVINO inside the long-lived pytest process, after hundreds of tests have loaded torch, numba and
    # onnxruntime thread pools, crashed once at interpreter level)
    expected_all = json.loads(subprocess.run(
        [sys.executable, "-c", EXPECTED, str(exported.onnx), str(exported.xml), str(trained.paths[0])],
        capture_output=True, text=True, timeout=600, check=True).stdout.strip().splitlines()[-1])
    for suffix in (".onnx", ".xml"):
        expected = expected_all[suffix]
        found = report["found"][suffix]
        assert found["backend"] == ("onnxruntime" if suffix == ".onnx" else "openvino")
        np.testing.assert_array_equal(np.asarray(found["keypoints"]), np.asarray(expected["keypoints"]))
        np.testing.assert_array_equal(np.asarray(found["scores"]), np.asarray(expected["scores"]))
        assert (tmp_path / f"{suffix[1:]}.png").stat().st_size > 0
        assert len(json.loads((tmp_path / f"{suffix[1:]}.json").read_text())) == len(expected["scores"])
    # the CLI wrote its annotated images and COCO results
    predictions = json.loads((tmp_path / "predict" / "predictions.json").read_text())
    assert {p["file_name"] for p in predictions} == {p.name for p in trained.paths}
    assert sorted((tmp_path / "predict").glob("*.jpg")) and (tmp_path / "predict-ov" / "predictions.json").is_file()
    assert json.loads((tmp_path / "eval.json").read_text())
    assert "AP" in proc.stdout and "on onnxruntime" in proc.stdout and "on openvino" in proc.stdout
