"""Smoke test of the accuracy benchmark: a --sample run of openread and RapidOCR on two subsets,
checking the table and the JSON structure and that every figure is in range."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from bench.accuracy import SAMPLE_SIZE, TABLE_HEADER, main

pytestmark = [pytest.mark.evaldata, pytest.mark.slow]

SUBSETS = ("azure_docs", "icdar15")
ENGINES = ("rapidocr", "openread")
RATIOS = ("precision", "recall", "hmean")


@pytest.fixture(scope="module")
def sample_run(eval_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Any]:
    out = tmp_path_factory.mktemp("bench") / "accuracy.json"
    argv = ["--data", str(eval_data), "--subsets", ",".join(SUBSETS)]
    argv += ["--engines", ",".join(ENGINES), "--sample", "--threads", "2", "--json", str(out)]
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert main(argv) == 0
    return stdout.getvalue(), json.loads(out.read_text(encoding="utf-8"))


def _check_counts(counts: dict[str, float] | None) -> None:
    assert counts is not None
    assert 0 <= counts["matched"] <= min(counts["predicted"], counts["expected"])
    for key in RATIOS:
        assert 0.0 <= counts[key] <= 1.0


def test_table_has_one_row_per_subset_and_engine(sample_run: tuple[str, Any]) -> None:
    table, _ = sample_run
    first, *others = table.split("\n\n")  # the main table; then its legend, the ECE halves
    rows = [line for line in first.splitlines() if line.startswith("| ")]
    assert rows[0] == "| " + " | ".join(TABLE_HEADER) + " |"
    assert any(part.startswith("| subset | engine | words fit / check") for part in others)
    body = [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]
    assert [(r[0], r[1]) for r in body] == [(s, e) for s in SUBSETS for e in ENGINES]
    assert all(len(r) == len(TABLE_HEADER) for r in body)


def test_json_figures_are_in_range(sample_run: tuple[str, Any]) -> None:
    _, payload = sample_run
    assert payload["meta"]["subsets"] == list(SUBSETS)
    results = {(r["subset"], r["engine"]): r for r in payload["results"]}
    assert set(results) == {(s, e) for s in SUBSETS for e in ENGINES}
    for result in results.values():
        assert result["errors"] == 0
        assert result["images"] == len(result["per_image"]) <= SAMPLE_SIZE
        for key in ("det", "e2e", "e2e_exact", "bow"):
            _check_counts(result[key])
        assert result["latency_ms"]["median"] > 0
        assert all(image["seconds"] > 0 for image in result["per_image"])


def test_subset_specific_metrics(sample_run: tuple[str, Any]) -> None:
    _, payload = sample_run
    for result in payload["results"]:
        if result["subset"] == "icdar15":  # word GT without page text: no CER/WER, no sticky
            assert result["cer"] is None
            assert result["wer"] is None
            assert result["sticky"] is None
            assert result["unit"] == "word"
        else:
            assert 0.0 <= result["cer"]["rate"] <= 1.5
            assert result["cer"]["reference"] > 0
            assert result["sticky"]["expected"] == 24


@pytest.mark.parametrize("engine", ENGINES)
def test_engines_read_the_sticky_note(sample_run: tuple[str, Any], engine: str) -> None:
    _, payload = sample_run
    result = next(
        r for r in payload["results"] if r["subset"] == "azure_docs" and r["engine"] == engine
    )
    assert result["sticky"]["matched"] >= 8  # RapidOCR gets 13 of 24 words exactly
    assert result["bow"]["hmean"] > 0.6
    assert result["cer"]["rate"] < 0.6


def test_held_out_ece_is_reported_for_openread_only(sample_run: tuple[str, Any]) -> None:
    """openread's icdar15 words carry their held-out confidences (the fold maps of
    bench/results/calibration_folds.json); RapidOCR's have none."""
    _, payload = sample_run
    results = {(r["subset"], r["engine"]): r for r in payload["results"]}
    held = results["icdar15", "openread"]["calibration_held_out"]
    assert held is not None
    assert sum(held["words"]) == sum(results["icdar15", "openread"]["calibration"]["words"])
    assert 0.0 <= held["ece"] <= 1.0
    assert results["icdar15", "rapidocr"]["calibration_held_out"] is None
    assert results["azure_docs", "openread"]["calibration_held_out"] is None
