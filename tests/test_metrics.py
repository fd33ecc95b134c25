"""``/metrics`` scraped after real requests to a real server, parsed with prometheus_client."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from openread.http.metrics import STAGES
from serving import ANALYZE, API_KEY, ServerProcess, png_bytes


def _samples(server: ServerProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(server.url("/metrics", ""), timeout=10).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_counts_and_histograms_agree_with_what_was_sent(ops_server: ServerProcess) -> None:
    before = _samples(ops_server)
    image = png_bytes(320, 240)
    headers = {"Ocp-Apim-Subscription-Key": API_KEY, "Content-Type": "application/octet-stream"}
    with httpx.Client(timeout=60) as client:
        oks = [client.post(ops_server.url(), content=image, headers=headers) for _ in range(3)]
        bad = client.post(
            ops_server.url(query="api-version=1999-01-01&features=read"),
            content=image,
            headers=headers,
        )
        unauth = client.post(ops_server.url(), content=image)
    assert [r.status_code for r in oks] == [200, 200, 200]
    assert bad.status_code == 400
    assert unauth.status_code == 401
    after = _samples(ops_server)
    route = ANALYZE

    def delta(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    ok = {"route": route, "api_version": "2023-10-01", "status": "200", "code": ""}
    assert delta("openread_requests_total", **ok) == 3
    code = bad.headers["x-ms-error-code"]
    assert (
        delta("openread_requests_total", route=route, api_version="other", status="400", code=code)
        == 1
    )
    assert (
        delta(
            "openread_requests_total",
            route=route,
            api_version="2023-10-01",
            status="401",
            code="401",
        )
        == 1
    )
    assert delta("openread_request_seconds_count", route=route) == 5
    assert delta("openread_images_read_total") == 3
    assert delta("openread_pages_read_total") == 3
    assert delta("openread_words_per_image_count") == 3
    words = sum(
        len(line["words"])
        for r in oks
        for block in r.json()["readResult"]["blocks"]
        for line in block["lines"]
    )
    assert delta("openread_words_per_image_sum") == words
    for stage in STAGES:
        assert delta("openread_stage_seconds_count", stage=stage) == 3, stage
    for stage in ("decode", "detect", "recognize", "scriptid", "style", "layout"):
        assert delta("openread_stage_seconds_sum", stage=stage) > 0, stage
    staged = sum(delta("openread_stage_seconds_sum", stage=stage) for stage in STAGES)
    ok_latency = delta("openread_request_seconds_sum", route=route)  # the 400/401 add a little
    assert 0 < staged <= ok_latency
    assert _value(after, "openread_process_rss_bytes") > 10_000_000
    assert _value(after, "openread_model_load_seconds") > 0
    assert _value(after, "openread_requests_in_flight") == 1  # the scrape itself


def test_raw_paths_are_not_labels(ops_server: ServerProcess) -> None:
    assert httpx.get(ops_server.url("/no/such/path-123", "")).status_code == 404
    assert "path-123" not in httpx.get(ops_server.url("/metrics", "")).text
    samples = _samples(ops_server)
    assert (
        _value(
            samples,
            "openread_requests_total",
            route="other",
            api_version="",
            status="404",
            code="404",
        )
        >= 1
    )


def test_templated_paths_are_labelled_by_their_route(ops_server: ServerProcess) -> None:
    operation = "0b0e2a8e-3f7a-4c4e-9d8a-5a4c2f9e1b7d"
    with httpx.Client(timeout=10) as client:
        for kind in ("analyzeResults", "operations"):
            for _ in range(2):
                response = client.get(
                    ops_server.url(f"/vision/v3.1/read/{kind}/{operation}", ""),
                    headers={"Ocp-Apim-Subscription-Key": API_KEY},
                )
                assert response.status_code == 404
        wrong_method = client.delete(
            ops_server.url(f"/vision/v3.2/read/operations/{operation}", "")
        )
        assert wrong_method.status_code == 405
    text = httpx.get(ops_server.url("/metrics", ""), timeout=10).text
    assert operation not in text
    samples = _samples(ops_server)
    for kind in ("analyzeResults", "operations"):
        template = f"/vision/v3.1/read/{kind}/{{operation_id}}"
        labels = {"route": template, "api_version": "", "status": "404", "code": "404"}
        assert _value(samples, "openread_requests_total", **labels) == 2, (kind, text)
    template = "/vision/v3.2/read/operations/{operation_id}"
    assert _value(samples, "openread_request_seconds_count", route=template) == 1


def test_bench_load_reads_the_stage_histograms(ops_server: ServerProcess) -> None:
    from bench.load import STAGE_ORDER, histogram_quantile, stage_histograms

    assert STAGE_ORDER == STAGES
    rows = [(0.1, 2.0), (0.5, 4.0), (float("inf"), 4.0)]
    assert histogram_quantile(0.5, rows) == 0.1  # rank 2 at the top of the first bucket
    assert histogram_quantile(0.75, rows) == pytest.approx(0.3)  # half way into (0.1, 0.5]
    assert histogram_quantile(0.5, [(float("inf"), 0.0)]) is None
    image = png_bytes(320, 240)
    headers = {"Ocp-Apim-Subscription-Key": API_KEY, "Content-Type": "application/octet-stream"}
    assert httpx.post(ops_server.url(), content=image, headers=headers, timeout=60).is_success
    table = stage_histograms(httpx.get(ops_server.url("/metrics", ""), timeout=10).text)
    assert list(table)[: len(STAGES)] == list(STAGES)
    for stage in STAGES:
        row = table[stage]
        assert (row["count"] or 0) >= 1
        p50, p99 = row["p50_ms"], row["p99_ms"]
        assert p50 is not None
        assert p99 is not None
        assert 0 <= p50 <= p99
    assert f"request {ANALYZE}" in table
