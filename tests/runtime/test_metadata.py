"""The metadata document exported files carry: round trip and one-line errors naming the file and field."""

from __future__ import annotations

import json

import pytest

from litepose.runtime.metadata import FORMAT_VERSION, ModelMetadata
from litepose.skeleton import get_skeleton


def _meta(**changes: object) -> ModelMetadata:
    fields = {"family": "litepose", "arch": {"input_size": 256}, "skeleton": get_skeleton(14),
              "input_size": (256, None), "test_size": 256}
    fields.update(changes)
    return ModelMetadata(**fields)  # type: ignore[arg-type]


def test_round_trip_keeps_every_field() -> None:
    meta = _meta(precision="int8", extra={"opset": 17})
    back = ModelMetadata.from_json(meta.to_json(), source="m.onnx")
    assert back == meta
    assert back.dynamic and back.num_keypoints == 14
    assert back.skeleton.flip_index == get_skeleton(14).flip_index


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda d: d.pop("skeleton"), "m.onnx: litepose metadata lacks the field 'skeleton'"),
    (lambda d: d.update(format_version=FORMAT_VERSION + 1), "format_version"),
    (lambda d: d.update(num_keypoints=17), "num_keypoints 17 but the skeleton has 14"),
    (lambda d: d.update(precision="int4"), "precision must be one of"),
    (lambda d: d.update(input_size=[250, 256]), "multiples of 32"),
])
def test_malformed_documents_name_the_file_and_field(edit, expected: str) -> None:
    raw = _meta().to_dict()
    edit(raw)
    with pytest.raises(ValueError, match=r"^m\.onnx: ") as info:
        ModelMetadata.from_json(json.dumps(raw), source="m.onnx")
    assert expected in str(info.value)


def test_not_json_is_one_line() -> None:
    with pytest.raises(ValueError, match=r"^m\.xml: litepose metadata is not valid JSON"):
        ModelMetadata.from_json("{oops", source="m.xml")
