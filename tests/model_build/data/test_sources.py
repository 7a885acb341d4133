"""Download + cache against a local HTTP server, the offline fallback, and the demo series."""

import hashlib
import http.server
import logging
import socket
import threading
from dataclasses import replace
from functools import partial
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from forecasting.data import sources
from forecasting.data.sources import (
    DATASETS,
    DatasetUnavailableError,
    PublicDataset,
    cache_dir,
    demo_ett,
    fetch,
    resolve_dataset,
)
from forecasting.errors import ConfigError, DataValidationError

PAYLOAD = b"date,a\n2016-07-01 00:00:00,1\n2016-07-01 01:00:00,2\n2016-07-01 02:00:00,3\n"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    requests: ClassVar[list[str]] = []

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.requests.append(self.path)
        super().do_GET()


@pytest.fixture
def server(tmp_path):
    """Serve tmp_path/www on 127.0.0.1; yields (base URL, list of request paths)."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "tiny.csv").write_bytes(PAYLOAD)
    handler = type("Handler", (_QuietHandler,), {"requests": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", handler.requests
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/tiny.csv"


def tiny(url: str, sha256: str | None = None) -> PublicDataset:
    return PublicDataset(
        name="tiny",
        url=url,
        sha256=sha256 or hashlib.sha256(PAYLOAD).hexdigest(),
        filename="tiny.csv",
        license="CC0",
        citation="test",
    )


def test_fetch_downloads_verifies_and_then_uses_the_cache(server, tmp_path):
    base, requests = server
    cache = tmp_path / "cache"
    path = fetch(tiny(f"{base}/tiny.csv"), cache=cache)
    assert path == cache / "tiny.csv" and path.read_bytes() == PAYLOAD
    assert fetch(tiny(f"{base}/tiny.csv"), cache=cache) == path
    assert requests == ["/tiny.csv"]  # the second call did not download
    assert [p.name for p in cache.iterdir()] == ["tiny.csv"]  # no temporary files left


def test_corrupt_cached_copy_is_downloaded_again(server, tmp_path):
    base, requests = server
    (tmp_path / "tiny.csv").write_bytes(b"truncated")
    assert fetch(tiny(f"{base}/tiny.csv"), cache=tmp_path).read_bytes() == PAYLOAD
    assert len(requests) == 1


def test_checksum_mismatch_removes_the_file(server, tmp_path):
    base, _ = server
    cache = tmp_path / "cache"
    with pytest.raises(DataValidationError) as error:
        fetch(tiny(f"{base}/tiny.csv", sha256="0" * 64), cache=cache)
    message = str(error.value)
    assert f"{base}/tiny.csv" in message and "sha256" in message and "0" * 64 in message
    assert list(cache.iterdir()) == []


def test_unreachable_url_gives_one_line_naming_url_and_data_flag(tmp_path):
    url = closed_port_url()
    with pytest.raises(DatasetUnavailableError) as error:
        fetch(tiny(url), cache=tmp_path, timeout=5)
    message = str(error.value)
    assert message.startswith(f"Could not download tiny from {url} (")
    assert message.endswith("; pass a local copy with --data PATH")
    assert "\n" not in message
    assert list(tmp_path.iterdir()) == []


def test_http_error_is_reported_with_its_status(server, tmp_path):
    base, _ = server
    with pytest.raises(DatasetUnavailableError, match=r"\(HTTP 404 .*--data PATH"):
        fetch(tiny(f"{base}/missing.csv"), cache=tmp_path)


def test_unknown_dataset_name():
    with pytest.raises(ConfigError, match="Unknown data set 'nope'"):
        fetch("nope")


def test_cache_dir_honours_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("FORECASTING_CACHE", str(tmp_path))
    assert cache_dir() == tmp_path
    monkeypatch.delenv("FORECASTING_CACHE")
    assert cache_dir().parts[-2:] == (".cache", "forecasting")


def test_registered_datasets_are_pinned():
    for spec in DATASETS.values():
        assert len(spec.sha256) == 64 and spec.url.startswith("https://")
        assert spec.license and spec.citation


def test_demo_is_deterministic_and_ett_shaped():
    first, second = demo_ett(500), demo_ett(500)
    pd.testing.assert_frame_equal(first.frame, second.frame)
    assert not np.allclose(demo_ett(500, seed=1).frame, first.frame)
    assert list(first.frame.columns) == ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]
    assert first.synthetic and first.source == "synthetic demo" and first.freq == "h"
    assert first.frame.index[0] == pd.Timestamp("2016-07-01")
    assert pd.infer_freq(first.frame.index) == "h"
    assert np.isfinite(first.frame.to_numpy()).all()
    assert len(demo_ett()) == 17420


def test_resolve_demo_and_unknown_names():
    assert resolve_dataset("demo").synthetic
    with pytest.raises(ConfigError, match="Unknown data set"):
        resolve_dataset("nope")
    with pytest.raises(ConfigError, match="panel"):
        resolve_dataset("stallion")


def test_resolve_local_ett_file_uses_the_ett_loader(tmp_path, ett_frame):
    path = tmp_path / "ETTm1.csv"
    ett_frame(30, freq="15min").to_csv(path, index=False)
    series = resolve_dataset("ETTh1", str(path))
    assert series.freq == "15min" and not series.synthetic and series.source == str(path)


def test_resolve_local_generic_csv(write_csv, hourly_csv):
    path = write_csv(hourly_csv(5, ("x", "y")))
    series = resolve_dataset("ETTh1", str(path))
    assert series.targets == ["x", "y"] and series.freq == "h"
    series = resolve_dataset("ETTh1", path, targets=["y"], covariates=["x"], freq="h")
    assert series.targets == ["y"] and series.covariates == ["x"]


def test_resolve_local_ett_file_with_custom_roles(tmp_path, ett_frame):
    path = tmp_path / "ETTh1.csv"
    ett_frame(30).to_csv(path, index=False)
    series = resolve_dataset("ETTh1", path, targets=["OT"], covariates=["HUFL"])
    assert series.targets == ["OT"] and series.covariates == ["HUFL"]


def test_resolve_falls_back_to_demo_when_offline(monkeypatch, tmp_path, caplog):
    url = closed_port_url()
    monkeypatch.setitem(DATASETS, "ETTh1", replace(DATASETS["ETTh1"], url=url))
    monkeypatch.setenv("FORECASTING_CACHE", str(tmp_path))
    monkeypatch.setattr(sources, "demo_ett", lambda: demo_ett(300))
    with caplog.at_level(logging.WARNING, logger="forecasting.data.sources"):
        series = resolve_dataset("ETTh1")
    assert series.synthetic
    assert f"Could not download ETTh1 from {url}" in caplog.text
    assert "synthetic" in caplog.text


def test_resolve_uses_a_cached_etth1(monkeypatch, tmp_path, ett_frame):
    text = ett_frame(40).to_csv(index=False).encode()
    pinned = replace(
        DATASETS["ETTh1"], url=closed_port_url(), sha256=hashlib.sha256(text).hexdigest()
    )
    monkeypatch.setitem(DATASETS, "ETTh1", pinned)
    monkeypatch.setenv("FORECASTING_CACHE", str(tmp_path))
    (tmp_path / "ETTh1.csv").write_bytes(text)
    series = resolve_dataset("ETTh1")
    assert not series.synthetic and len(series) == 40


def test_unwritable_cache_is_a_config_error(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(ConfigError, match="set FORECASTING_CACHE"):
        fetch(tiny(closed_port_url()), cache=tmp_path / "file" / "cache")
