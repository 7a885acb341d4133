"""The targets table's verdicts and wording, and the anchors' sources."""

from __future__ import annotations

import pytest

from benchmarks.page.anchors import ANCHORS, paper_informer
from benchmarks.page.targets import TARGETS, Target


def test_at_least_is_met_from_the_limit_up():
    target = Target(1.7, at_least=True, unit="×")
    assert target.met(1.7) and target.met(1.9)
    assert not target.met(1.69)
    assert target.verdict(1.8) == "met"
    assert target.verdict(1.5) == "**not met**"


def test_at_most_is_met_from_the_limit_down():
    target = Target(240, at_least=False)
    assert target.met(240) and target.met(239.2)
    assert not target.met(240.01)
    assert target.verdict(241) == "**not met**"


@pytest.mark.parametrize(
    ("target", "bound"),
    [
        (Target(1.7, at_least=True, unit="×"), "≥ 1.7×"),
        (Target(1000, at_least=True), "≥ 1,000"),
        (Target(0.5, at_least=True, unit="%"), "≥ 50%"),
        (Target(8, at_least=False, unit=" GiB"), "≤ 8 GiB"),
        (Target(0.45, at_least=False), "≤ 0.45"),
    ],
)
def test_bound_is_written_as_the_page_writes_it(target, bound):
    assert target.bound == bound


def test_every_target_has_a_positive_limit():
    assert TARGETS
    for name, target in TARGETS.items():
        assert target.limit > 0, name


def test_every_anchor_names_its_source():
    for name, anchor in ANCHORS.items():
        assert anchor.source.strip(), name
        assert anchor.value is not None, name


def test_paper_informer_reads_the_paper_table():
    assert paper_informer(24) == (0.577, 0.549)
    assert paper_informer(168) == (0.931, 0.752)
