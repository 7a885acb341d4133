"""The results page's pure helpers: numbers, ratios, tables and the growth statistics."""

from __future__ import annotations

import math

import pytest

from benchmarks.page.format import (
    median_range,
    missing,
    n_log_n_exponent,
    number,
    pair,
    ratio,
    table,
)


@pytest.mark.parametrize(
    ("value", "digits", "shown"),
    [
        (None, 3, "–"),
        (1234.4, 3, "1,234"),
        (-250.0, 3, "-250"),
        (0.123456, 3, "0.123"),
        (0.123456, 4, "0.1235"),
        (7, 3, "7"),
        ("ok", 3, "ok"),
    ],
)
def test_number(value, digits, shown):
    assert number(value, digits) == shown


def test_ratio_and_pair():
    assert ratio(1.234) == "1.23×"
    assert ratio(1.2346, 3) == "1.235×"
    assert ratio(None) == "–"
    assert pair(0.5771, 0.5489) == "0.577 / 0.549"


def test_table_is_markdown_with_a_blank_line_after():
    assert table(["a", "b"], [[1, "x"], [None, 2.5]]) == [
        "| a | b |",
        "|---|---|",
        "| 1 | x |",
        "| None | 2.5 |",
        "",
    ]


def test_missing_names_the_file_and_the_command():
    (line, blank) = missing("tft_scale", "python benchmarks/tft_scale.py")
    assert "`tft_scale.json` is absent" in line
    assert "`python benchmarks/tft_scale.py`" in line
    assert blank == ""


def test_n_log_n_exponent_is_the_slope_of_l_log_l():
    # two points: the slope is exact
    a, b = 96, 1536
    slope = (math.log(b * math.log(b)) - math.log(a * math.log(a))) / (math.log(b) - math.log(a))
    assert n_log_n_exponent([a, b]) == pytest.approx(slope)
    # L·log L grows faster than L and slower than L², and ever slower relative to L
    sweep = n_log_n_exponent([96, 192, 384, 768, 1536])
    assert 1 < sweep < 2
    assert n_log_n_exponent([384, 768, 1536]) < sweep


def test_median_range():
    assert median_range([3.0, 1.0, 2.0, 10.0]) == {"median": 2.5, "min": 1.0, "max": 10.0}
