"""Smoke tests of the speed and load benchmarks on tiny configurations: the printed tables and
checks, the JSON structure, and that the figures are sane (counts add up, latencies > 0, no
wrong body). About 35 s together: two engine processes, then one real server. Plus the helpers
that decide what a wrong answer is, on handmade cases."""

from __future__ import annotations

import contextlib
import io
import json
import math
import signal
from pathlib import Path
from typing import Any

import pytest
from bench import load, speed
from bench._proc import percentile
from bench.metrics import Polygon, Region

SPEED_KINDS = ("label", "photo")
SPEED_ENGINES = ("openread", "rapidocr")
LEVELS = (1, 2)
REQUESTS = 3
OVERLOAD_CLIENTS = 4 * (1 + 1)  # 4 x (workers + max_queue)


def _table_rows(text: str, first_cell: str) -> list[list[str]]:
    """The body rows of the markdown table whose header starts with ``first_cell``."""
    lines = text.splitlines()
    start = next(k for k, line in enumerate(lines) if line.startswith(f"| {first_cell} |"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("| "):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def _check_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.split(" ", 1)[0] in {"PASS", "FAIL", "SKIP"}]


# --- speed -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def speed_run(
    eval_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, dict[str, Any]]:
    out = tmp_path_factory.mktemp("speed") / "speed.json"
    argv = ["--data", str(eval_data), "--kinds", ",".join(SPEED_KINDS), "--limit", "1"]
    argv += ["--repeat", "1", "--engines", ",".join(SPEED_ENGINES), "--json", str(out)]
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert speed.main(argv) == 0
    return stdout.getvalue(), json.loads(out.read_text(encoding="utf-8"))


@pytest.mark.evaldata
@pytest.mark.slow
def test_speed_table_rows(speed_run: tuple[str, dict[str, Any]]) -> None:
    text, _ = speed_run
    rows = _table_rows(text, "kind")
    assert [(r[0], r[1]) for r in rows] == [(k, e) for k in SPEED_KINDS for e in SPEED_ENGINES]
    assert all(len(r) == len(speed.TABLE_HEADER) for r in rows)
    assert [r[0] for r in _table_rows(text, "engine")] == list(SPEED_ENGINES)
    checks = _check_lines(text)
    assert [c.split(":")[0].split(" ", 1)[1] for c in checks] == [
        f"{what} {kind}" for kind in SPEED_KINDS for what in ("speed", "accuracy")
    ]


@pytest.mark.evaldata
@pytest.mark.slow
def test_speed_json_figures(speed_run: tuple[str, dict[str, Any]]) -> None:
    _, payload = speed_run
    results = {(r["kind"], r["engine"]): r for r in payload["results"]}
    assert set(results) == {(k, e) for k in SPEED_KINDS for e in SPEED_ENGINES}
    for (_, engine), result in results.items():
        assert result["errors"] == 0
        assert result["images"] == result["runs"] == len(result["runs_detail"]) == 1
        assert result["latency_ms"]["median"] > 0
        assert result["latency_ms"]["p95"] >= result["latency_ms"]["median"]
        assert result["images_per_s"] > 0
        assert result["cpu_ms_median"] > 0
        assert 0.0 <= result["bow"]["hmean"] <= 1.0
        assert result["bow"]["matched"] <= result["bow"]["expected"]
        if engine == SPEED_ENGINES[0]:
            assert result["median_ratio"] > 0
        else:
            assert result["median_ratio"] is None
    # the label crop is easy: both engines read most of it
    assert results[("label", "openread")]["bow"]["hmean"] > 0.5
    for memory in payload["memory_mib"]:
        assert 0 < memory["rss_start"] < memory["rss_loaded"]
        assert memory["peak_ru_maxrss"] >= memory["rss_end"] > 0
        assert memory["peak_vm_hwm"] >= memory["rss_after_warm_up"] > 0
    assert len(payload["checks"]) == 2 * len(SPEED_KINDS)


# --- load ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def load_run(
    eval_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, dict[str, Any]]:
    out = tmp_path_factory.mktemp("load") / "load.json"
    argv = ["--data", str(eval_data), "--concurrency", ",".join(map(str, LEVELS))]
    argv += ["--requests", str(REQUESTS), "--limit", "1", "--workers", "1", "--threads", "2"]
    argv += ["--max-queue", "1", "--overload-seconds", "2", "--soak", "4"]
    argv += ["--soak-concurrency", "1", "--json", str(out)]
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert load.main(argv) == 0
    return stdout.getvalue(), json.loads(out.read_text(encoding="utf-8"))


@pytest.mark.evaldata
@pytest.mark.slow
def test_load_table_and_checks(load_run: tuple[str, dict[str, Any]]) -> None:
    text, _ = load_run
    rows = _table_rows(text, "phase")
    assert [r[0] for r in rows] == [f"c={c}" for c in LEVELS] + ["overload", "soak"]
    assert all(len(r) == len(load.TABLE_HEADER) for r in rows)
    checks = {c.split(":")[0].split(" ", 1)[1]: c.split(" ", 1)[0] for c in _check_lines(text)}
    assert checks["no collapse"] == "SKIP"  # level 8 was not run
    assert checks["bodies"] == "PASS"
    assert checks["no errors"] == "PASS"
    assert checks["overload"] in {"PASS", "FAIL"}
    assert checks["soak RSS"] in {"PASS", "FAIL", "SKIP"}  # a 4 s soak may be too short
    assert "soak RSS timeline" in text
    for row in rows:
        assert float(row[load.TABLE_HEADER.index("CPU s/ok")]) > 0


@pytest.mark.evaldata
@pytest.mark.slow
def test_load_json_figures(load_run: tuple[str, dict[str, Any]]) -> None:
    _, payload = load_run
    phases = {p["phase"]: p for p in payload["phases"]}
    assert payload["meta"]["overload_clients"] == OVERLOAD_CLIENTS
    for level in LEVELS:
        phase = phases[f"c={level}"]
        assert phase["requests"] == REQUESTS == sum(phase["statuses"].values())
        assert phase["requests"] == len(phase["answers"])
        assert phase["statuses"].get("200", 0) >= 1
        assert set(phase["statuses"]) <= {"200", "429"}
        assert 0 < phase["latency_ms"]["p50"] <= phase["latency_ms"]["p99"]
        assert phase["ok_per_second"] > 0
        assert phase["wrong"] == []
        assert all(ms > 0 for _, _, ms in phase["answers"])
    overload = phases["overload"]
    assert overload["clients"] == OVERLOAD_CLIENTS
    assert overload["requests"] == sum(overload["statuses"].values()) > 0
    assert overload["health"]["probes"] >= 1
    assert overload["health"]["max_ms"] > 0
    rss = payload["rss_mib"]
    assert 0 < rss["min"] <= rss["after_warm_up"] <= rss["max"]
    assert len(rss["timeline"]) >= 5
    assert payload["soak_memory_mib"] is None or payload["soak_memory_mib"]["end"] > 0
    assert payload["meta"]["server"]["exit_code"] in {0, -signal.SIGTERM}  # uvicorn re-raises
    assert payload["meta"]["server"]["log_errors"] == []


# --- helpers ---------------------------------------------------------------------------------


def _body(lines: list[str], width: int = 100, height: int = 50) -> bytes:
    polygon = [{"x": 0, "y": 0}, {"x": 9, "y": 0}, {"x": 9, "y": 9}, {"x": 0, "y": 9}]
    words = [
        [{"text": w, "boundingPolygon": polygon, "confidence": 0.9} for w in line.split()]
        for line in lines
    ]
    body = {
        "modelVersion": "2023-10-01",
        "metadata": {"width": width, "height": height},
        "readResult": {
            "blocks": [
                {
                    "lines": [
                        {"text": t, "boundingPolygon": polygon, "words": w}
                        for t, w in zip(lines, words, strict=True)
                    ]
                }
            ]
        },
    }
    return json.dumps(body).encode()


def test_body_check_catches_mixed_up_and_broken_answers() -> None:
    image = load.LoadImage("a.png", b"", 100, 50)
    expected = load.parse_body(_body(["EXIT", "this way"]))
    assert expected == load.Reading("EXIT\nthis way", 100, 50, 3)
    assert load.body_problem(_body(["EXIT", "this way"]), image, expected) is None
    assert "text differs" in str(load.body_problem(_body(["EXIT", "that way"]), image, expected))
    assert "size" in str(load.body_problem(_body(["EXIT", "this way"], 50), image, expected))
    truncated = _body(["EXIT", "this way"])[:-20]
    assert "not JSON" in str(load.body_problem(truncated, image, expected))
    assert load.body_problem(b'{"metadata": {}}', image, expected) is not None
    assert load.body_problem(b"[]", image, expected) is not None


def test_every_kind_names_real_images_and_has_a_note(eval_data: Path, tmp_path: Path) -> None:
    assert set(speed.KIND_NOTES) == set(speed.KINDS)
    assert set(speed.DEFAULT_KINDS) < set(speed.KINDS)
    hand = speed.KINDS["handwriting"]
    pages = speed.prepare(eval_data, hand, tmp_path)
    assert len(pages) == 10
    assert all(page.image.is_file() for page in pages)
    assert {page.subset for page in pages} == {"handwriting_en", "handwriting_fr"}


def test_crop_items_keeps_inside_marks_cut_drops_outside() -> None:
    def box(x1: float, y1: float, x2: float, y2: float) -> Polygon:
        return ((x1, y1), (x2, y1), (x2, y2), (x1, y2))

    items = [
        Region(box(20, 20, 40, 30), "inside"),
        Region(box(90, 20, 120, 30), "cut"),
        Region(box(200, 20, 240, 30), "outside"),
    ]
    cropped = speed.crop_items(items, (10, 10, 100, 60))
    assert [(r.text, r.ignore) for r in cropped] == [("inside", False), ("cut", True)]
    assert cropped[0].polygon[0] == (10, 10)


def test_percentile_matches_numpy_interpolation() -> None:
    values = [5.0, 1.0, 3.0, 2.0, 4.0]
    assert percentile(values, 50) == 3.0
    assert percentile(values, 95) == pytest.approx(4.8)
    assert percentile([7.0], 99) == 7.0
    assert math.isnan(percentile([], 50))
