"""Accuracy floors on a small fixed sample of the eval data: what was won stays won.

The benchmark's own scoring (``bench.accuracy``) runs openread on the first images of each
Latin subset; every floor sits a little below the figure measured when it was set (so noise in
thread scheduling cannot trip it, but a lost gain does). Measured on this sample (openread at
the commit that set the floors / RapidOCR's default pipeline / openread with the ink fitting
patched out ad hoc, 2026-12-01 / openread before glyphs cut by a word's reading were taken
whole, the commit before it):

| subset (images) | figure | openread | RapidOCR | unfitted | glyphs cut |
| --- | --- | --- | --- | --- | --- |
| icdar15 (25) | det H / e2e H | 0.851 / 0.799 | 0.734 / 0.677 | 0.766 / 0.703 | 0.848 / 0.795 |
| funsd (3) | det H / e2e H | 0.913 / 0.868 | – / 0.824 | – / 0.828 | 0.881 / 0.835 |
| sroie (3) | det H / e2e H | 0.894 / 0.788 | 0.847 / 0.730 | 0.757 / 0.683 | 0.889 / 0.788 |
| sroie (3) | CER / BoW F1 | 0.168 / 0.899 | 0.183 / 0.881 | 0.168 / 0.899 | 0.168 / 0.899 |
| handwriting_en (2) | det H / CER | 0.646 / 0.557 | 0.400 / 0.575 | 0.424 / 0.565 | 0.626 / 0.558 |
| handwriting_fr (2) | det H / CER | 0.667 / 0.424 | 0.394 / 0.502 | 0.424 / 0.424 | 0.667 / 0.422 |
| azure_docs (2) | sticky-note word e2e H | 0.833 | 0.489 | – | 0.708 |
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.accuracy import SubsetSummary, load_subset, run_subset
from bench.engines import make_engine

pytestmark = [pytest.mark.evaldata, pytest.mark.slow]

SAMPLE = {
    "icdar15": 25,
    "funsd": 3,
    "sroie": 3,
    "handwriting_en": 2,
    "handwriting_fr": 2,
    "azure_docs": 2,
}

# (subset, figure, floor): "det"/"e2e" H-means and "bow" F1 must reach the floor, "cer" stay
# at or below it
FLOORS = [
    ("icdar15", "det", 0.82),
    ("icdar15", "e2e", 0.77),
    ("funsd", "det", 0.89),
    ("funsd", "e2e", 0.85),
    ("sroie", "det", 0.86),
    ("sroie", "e2e", 0.76),
    ("sroie", "cer", 0.18),
    ("sroie", "bow", 0.88),
    ("handwriting_en", "det", 0.60),
    ("handwriting_en", "cer", 0.585),  # 0.574 with the handwriting reader (0.557 without)
    ("handwriting_fr", "det", 0.59),  # 0.606 with the handwriting reader (0.667 without)
    ("handwriting_fr", "cer", 0.44),
    ("azure_docs", "e2e", 0.80),
]


@pytest.fixture(scope="module")
def summaries(eval_data: Path) -> dict[str, SubsetSummary]:
    engine = make_engine("openread", 2)
    out = {}
    for subset, limit in SAMPLE.items():
        (summary,) = run_subset([engine], load_subset(eval_data, subset, limit))
        assert summary.errors == 0
        out[subset] = summary
    return out


def _figure(summary: SubsetSummary, figure: str) -> float:
    if figure == "cer":
        assert summary.cer is not None
        return summary.cer.rate
    if figure == "bow":
        return summary.bow.hmean
    assert summary.regions is not None
    return summary.regions.det.hmean if figure == "det" else summary.regions.e2e.hmean


@pytest.mark.parametrize(("subset", "figure", "floor"), FLOORS)
def test_accuracy_floor(
    summaries: dict[str, SubsetSummary], subset: str, figure: str, floor: float
) -> None:
    value = _figure(summaries[subset], figure)
    if figure == "cer":
        assert value <= floor, f"{subset} page CER {value:.3f} above {floor}"
    else:
        assert value >= floor, f"{subset} {figure} {value:.3f} below {floor}"
