"""The training command of the handwriting reader (``train/handwriting.py``): a few real steps
on real training lines, a checkpoint, a resumed run, the export and its check against PyTorch.
Skipped where torch is not installed (CI installs ``.[dev]`` only)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx2torch")

from train import handwriting


@pytest.mark.slow
@pytest.mark.timeout(900)
# onnx2torch 1.5's Slice indexes with a list (its own code; the result is exact) and torch's
# TorchScript exporter announces its deprecation and warns while tracing the converted graph:
# third-party warnings, not openread's
@pytest.mark.filterwarnings("ignore:Using a non-tuple sequence:UserWarning")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
@pytest.mark.filterwarnings("ignore:Constant folding:UserWarning")
def test_train_resume_export_verify(tmp_path: Path) -> None:
    if not (handwriting.TRAIN_DATA / "lines.jsonl").is_file():
        pytest.skip(f"training data not found at {handwriting.TRAIN_DATA}")
    out = tmp_path / "reader.onnx"
    common = [
        "--checkpoints",
        str(tmp_path / "ckpt"),
        "--out",
        str(out),
        "--holdout",
        "4",
        "--dev-lines",
        "2",
        "--minutes",
        "10",
    ]
    assert handwriting.main([*common, "--steps", "1"]) == 0
    assert (tmp_path / "ckpt" / "last.pt").is_file()
    first = json.loads(out.with_suffix(".json").read_text())
    assert first["steps"] == 1
    assert handwriting.main([*common, "--steps", "1", "--resume"]) == 0
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["steps"] == 2
    assert len(record["runs"]) == 2
    assert record["runs"][1]["resumed"]
    check = record["export_check"]
    assert check["same_text"] == check["lines"]
    assert check["max_probability_difference"] < 1e-3
    assert record["sha256"] == handwriting.sha256(out)
    # Going on from the export itself (as from the shipped reader once its checkpoint is lost):
    # the weights load back exactly, the earlier runs are carried over, the new run is not a
    # resume, and the held-out figures start from that reader's.
    again = tmp_path / "again.onnx"
    assert (
        handwriting.main(
            [
                *common[:1],
                str(tmp_path / "ckpt2"),
                "--out",
                str(again),
                *common[4:],
                "--steps",
                "1",
                "--init",
                str(out),
                "--mix",
                "fr=1",
            ]
        )
        == 0
    )
    went_on = json.loads(again.with_suffix(".json").read_text())
    assert went_on["steps"] == 3
    assert [r.get("from") for r in went_on["runs"]] == ["init", "init", None]
    assert not went_on["runs"][2]["resumed"]
    assert went_on["init"]["sha256"] == record["sha256"]
    assert went_on["held_out_cer"]["init"] == record["held_out_cer"]["trained"]
    assert went_on["config"]["mix"] == [["fr", 1.0]]
