"""The DLC image lookup: the SDK's answers, memoised on disk per SDK and framework version."""

from __future__ import annotations

import json

import pytest

from forecasting.pipeline import images


@pytest.fixture
def fresh_memo(tmp_path, monkeypatch):
    monkeypatch.setenv("FORECASTING_CACHE", str(tmp_path))
    images._memo.cache_clear()
    yield tmp_path
    images._memo.cache_clear()


def test_the_sdk_answers_once_and_the_memo_answers_after(fresh_memo, monkeypatch):
    uri = images.image_uri("eu-west-1", "ml.g5.xlarge", "training")
    assert uri.startswith("763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-training:2.6.0-gpu")
    assert "eu-west-1" in images.regions()
    saved = json.loads(images.memo_path().read_text())
    assert saved["eu-west-1/ml.g5.xlarge/training"] == uri

    def no_sdk(*args):
        raise AssertionError("the SDK was asked again")

    monkeypatch.setattr(images, "_sdk_image_uri", no_sdk)
    monkeypatch.setattr(images, "_sdk_regions", no_sdk)
    images._memo.cache_clear()  # a new process: read back from the file
    assert images.image_uri("eu-west-1", "ml.g5.xlarge", "training") == uri
    assert "eu-west-1" in images.regions()


def test_the_memo_is_keyed_by_the_sdk_version(fresh_memo, monkeypatch):
    first = images.memo_path()
    monkeypatch.setattr(images.metadata, "version", lambda name: "9.9.9")
    assert images.memo_path() != first
    assert "sdk9.9.9" in images.memo_path().name


def test_cpu_and_gpu_types_get_their_images(fresh_memo):
    assert images.uses_gpu("ml.g5.xlarge")
    assert not images.uses_gpu("ml.c5.2xlarge")
    assert "-cpu-" in images.image_uri("us-east-1", "ml.m5.xlarge", "inference")


def test_an_unwritable_cache_only_costs_speed(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("FORECASTING_CACHE", str(blocker / "below-a-file"))
    images._memo.cache_clear()
    try:
        assert images.image_uri("us-east-1", "ml.m5.xlarge", "training").endswith("-cpu-py312")
    finally:
        images._memo.cache_clear()
