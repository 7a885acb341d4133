"""The page from results written here: sections without their JSON, verdicts from the targets."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from benchmarks import report
from benchmarks.page import render as page
from benchmarks.page import results
from benchmarks.page.sections import inference, informer_etth1


@pytest.fixture
def results_dir(tmp_path, monkeypatch) -> Path:
    monkeypatch.setattr(results, "RESULTS", tmp_path)
    return tmp_path


def write(folder: Path, name: str, data: dict) -> None:
    (folder / f"{name}.json").write_text(json.dumps(data))


def slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def test_page_links_resolve_to_its_headings():
    text = page.render()
    headings = {slug(h) for h in re.findall(r"^#+ (.+)$", text, flags=re.M)}
    links = set(re.findall(r"\]\(#([^)]+)\)", text))
    assert links and links <= headings, links - headings


def test_every_section_renders_without_results(results_dir):
    text = page.render()
    for name in ["informer_etth1_default", "ddp_throughput", "tft_stallion", "inference"]:
        assert f"`{name}.json` is absent" in text
    assert "| TFT at 100× Stallion within 8 GiB peak RSS | not measured here | – |  |" in text
    assert "| Full test suite ≤ 10 min on 2 cores | not measured yet | – |" in text


def test_dates_do_not_make_the_page_out_of_date():
    page_text = "| result | 2026-01-02 |\n| other | 2026-01-03 (uncommitted) |\n"
    assert page.up_to_date(page_text, "| result | 2026-12-31 |\n| other | 2025-05-05 |\n")
    assert not page.up_to_date(page_text, "| result | 2026-01-02 |\n| other | 1.0 |\n")


def inference_result(series_per_second: float, seconds: float) -> dict:
    return {
        "series": 350,
        "results": {
            "informer": {
                "series": 2450,
                "seconds_spread": {"median": seconds, "min": seconds, "max": seconds},
                "series_per_second": series_per_second,
                "load_seconds": 0.1,
                "peak_rss_mib": 300.0,
            }
        },
    }


@pytest.mark.parametrize(
    ("series_per_second", "seconds", "status", "sentence"),
    [
        (3500.0, 0.1, "met (output series)", "is met counting output series"),
        (2450.0, 1.0, "met (output series); not per history", "is met counting output"),
        (600.0, 4.0, "**not met**", "is **not met** counting output series"),
    ],
)
def test_inference_verdict_follows_the_measured_rate(
    results_dir, series_per_second, seconds, status, sentence
):
    write(results_dir, "inference", inference_result(series_per_second, seconds))
    [row] = inference.target_rows()
    assert row[0] == "Batch inference ≥ 1,000 series/s/core, default Informer"
    assert row[2] == status
    assert sentence in " ".join(inference.section())


@pytest.mark.parametrize(
    ("windows_per_s", "mse", "status"),
    [(600.0, 0.44, "met"), (200.0, 0.44, "**not met**"), (600.0, 0.60, "**not met**")],
)
def test_default_size_speed_needs_ten_times_and_the_paper_accuracy(
    results_dir, windows_per_s, mse, status
):
    write(
        results_dir,
        "informer_etth1_default",
        {"rows": [{"horizon": 24, "seed": 1, "mse": mse, "mae": 0.4, "epochs": 5}]},
    )
    write(
        results_dir,
        "ddp_throughput",
        {
            "rows": [
                {"size": "default", "layout": "1 rank x 2 threads", "windows_per_s": windows_per_s}
            ]
        },
    )
    accuracy, speed = informer_etth1.target_rows()
    assert accuracy[0] == "ETTh1 M/24 MSE ≤ 0.45"
    assert accuracy[2] == ("met" if mse <= 0.45 else "**not met**")
    assert speed[0].startswith("Default size: paper accuracy (M/24 MSE ≤ 0.577) at ≥ 10×")
    assert speed[2] == f"{status}, ratio across runs"


def test_check_fails_on_a_stale_page_and_passes_on_a_fresh_one(results_dir, tmp_path, monkeypatch):
    stale = tmp_path / "benchmarks.md"
    stale.write_text("# Benchmarks\n\nold numbers\n")
    monkeypatch.setattr(report, "PAGE", stale)
    monkeypatch.setattr("sys.argv", ["report.py", "--check"])
    with pytest.raises(SystemExit, match="is out of date"):
        report.main()
    stale.write_text(page.render())
    report.main()  # up to date: returns without writing
    assert stale.read_text() == page.render()
