"""Public data sets, their checksummed local cache, and the offline fallback.

Downloads are pinned to a commit and a sha256, so a benchmark number always refers to the same
bytes. Without network the pipeline still runs end to end on a synthetic ETT-shaped series
(clearly flagged as synthetic) rather than failing halfway through a SageMaker job.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from forecasting import __version__
from forecasting.data.ett import ETT_COLUMNS, ETT_FREQ, is_ett_file, load_ett
from forecasting.data.panel import PanelFrame
from forecasting.data.panel_loading import check_panel_lengths
from forecasting.data.panel_roles import PanelRoles, load_user_panel
from forecasting.data.series import SeriesFrame, load_csv_series
from forecasting.data.stallion import demo_panel, stallion
from forecasting.errors import ConfigError, DataValidationError, ForecastingError
from forecasting.files import atomic_path

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


class DatasetUnavailableError(ForecastingError):
    """A public data set could not be downloaded (offline, blocked, server down)."""


@dataclass(frozen=True)
class PublicDataset:
    name: str
    url: str
    sha256: str
    filename: str
    license: str
    citation: str


DATASETS: dict[str, PublicDataset] = {
    "ETTh1": PublicDataset(
        name="ETTh1",
        url=(
            "https://raw.githubusercontent.com/zhouhaoyi/ETDataset/"
            "1d16c8f4f943005d613b5bc962e9eeb06058cf07/ETT-small/ETTh1.csv"
        ),
        sha256="f18de3ad269cef59bb07b5438d79bb3042d3be49bdeecf01c1cd6d29695ee066",
        filename="ETTh1.csv",
        license="CC BY-ND 4.0",
        citation=(
            "Zhou et al., Informer: Beyond Efficient Transformer for Long Sequence Time-Series "
            "Forecasting, AAAI 2021 (arXiv:2012.07436)"
        ),
    ),
    "stallion": PublicDataset(
        name="stallion",
        url=(
            "https://github.com/sktime/pytorch-forecasting/raw/"
            "062aeb47b75d589dcce621c04572181e3584a301/examples/data/stallion.parquet"
        ),
        sha256="22397fe65d91eb4ac8ae05d307f64244a36649f58d6f3232da98ec1f13e3d0ba",
        filename="stallion.parquet",
        license="MIT (pytorch-forecasting repository); Kaggle origin, terms unverified",
        citation="Stallion beverage demand data, as shipped with pytorch-forecasting",
    ),
}
DEMO = "demo"


def cache_dir() -> Path:
    """``$FORECASTING_CACHE`` or ``~/.cache/forecasting``."""
    configured = os.environ.get("FORECASTING_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "forecasting"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _reason(error: BaseException) -> str:
    if isinstance(error, urllib.error.HTTPError):
        text = f"HTTP {error.code} {error.reason}"
    elif isinstance(error, urllib.error.URLError):
        text = str(error.reason)
    else:
        text = str(error) or type(error).__name__
    return " ".join(text.split())  # one line, whatever the underlying library put in it


def _lookup(name: str | PublicDataset) -> PublicDataset:
    if isinstance(name, PublicDataset):
        return name
    if name not in DATASETS:
        raise ConfigError(f"Unknown data set {name!r}; expected one of {list(DATASETS)}")
    return DATASETS[name]


def _download(spec: PublicDataset, handle: BinaryIO, timeout: float) -> str:
    """Stream ``spec.url`` into ``handle``; return its sha256. Network errors become one line."""

    def unavailable(error: BaseException) -> DatasetUnavailableError:
        return DatasetUnavailableError(
            f"Could not download {spec.name} from {spec.url} ({_reason(error)}); "
            "pass a local copy with --data PATH"
        )

    request = urllib.request.Request(spec.url, headers={"User-Agent": f"forecasting/{__version__}"})
    digest = hashlib.sha256()
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except (OSError, http.client.HTTPException, ValueError) as error:
        raise unavailable(error) from None
    with response:
        while True:
            try:
                chunk = response.read(_CHUNK)
            except (OSError, http.client.HTTPException) as error:
                raise unavailable(error) from None
            if not chunk:
                return digest.hexdigest()
            digest.update(chunk)
            handle.write(chunk)


def fetch(name: str | PublicDataset, cache: str | Path | None = None, timeout: float = 20) -> Path:
    """Path to a verified local copy of a public data set, downloading it when needed.

    The download goes to a temporary file and is renamed into place only after its sha256
    matched, so an interrupted or tampered download never poisons the cache.
    """
    spec = _lookup(name)
    directory = Path(cache) if cache is not None else cache_dir()
    target = directory / spec.filename
    if target.is_file():
        if _sha256(target) == spec.sha256:
            return target
        log.warning("%s: checksum does not match %s; downloading it again", target, spec.name)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(
            f"Cannot create the data cache {directory} ({error.strerror or error}); "
            "set FORECASTING_CACHE to a writable folder"
        ) from None
    log.info("Downloading %s from %s", spec.name, spec.url)
    with atomic_path(target) as temporary:
        with temporary.open("wb") as handle:
            digest = _download(spec, handle, timeout)
        if digest != spec.sha256:
            raise DataValidationError(
                f"{spec.url}: the downloaded {spec.name} has sha256 {digest}, expected "
                f"{spec.sha256}; the file was removed. Check the source, or pass a copy you "
                "trust with --data PATH"
            )
    log.info("Saved %s to %s (license: %s)", spec.name, target, spec.license)
    return target


def demo_ett(n_rows: int = 17420, seed: int = 0) -> SeriesFrame:
    """A deterministic synthetic series shaped like ETTh1 (same columns, hourly, same length).

    Six load columns with daily and weekly cycles, a slow trend and AR(1) noise; ``OT`` follows
    the loads and a yearly cycle. Good for smoke tests and offline demos, not for benchmarks.
    """
    if n_rows < 1:
        raise ConfigError(f"demo_ett needs n_rows >= 1, got {n_rows}")
    rng = np.random.default_rng(seed)
    hours = np.arange(n_rows, dtype=np.float64)
    n_loads = len(ETT_COLUMNS) - 1
    level = rng.uniform(1.0, 8.0, n_loads)
    daily = rng.uniform(0.5, 2.0, n_loads)
    weekly = rng.uniform(0.2, 1.0, n_loads)
    phase = rng.uniform(0, 2 * np.pi, n_loads)
    trend = rng.uniform(-1.0, 1.0, n_loads) / n_rows
    loads = (
        level
        + daily * np.sin(2 * np.pi * hours[:, None] / 24 + phase)
        + weekly * np.sin(2 * np.pi * hours[:, None] / 168 + phase / 2)
        + trend * hours[:, None]
    )
    shocks = rng.normal(0.0, 0.3, (n_rows, len(ETT_COLUMNS)))
    noise = np.empty_like(shocks)
    noise[0] = shocks[0]
    for step in range(1, n_rows):  # AR(1): persistent deviations, like real sensor drift
        noise[step] = 0.8 * noise[step - 1] + shocks[step]
    yearly = np.sin(2 * np.pi * hours / (24 * 365.25) - np.pi / 2)
    oil = 15.0 - 8.0 * yearly + 0.5 * loads.mean(axis=1) + 3.0 * noise[:, -1]
    values = np.column_stack([loads + noise[:, :-1], oil])
    index = pd.date_range("2016-07-01", periods=n_rows, freq="h", name="date")
    frame = pd.DataFrame(values, index=index, columns=ETT_COLUMNS)
    return SeriesFrame(
        frame=frame,
        targets=list(ETT_COLUMNS),
        covariates=[],
        freq="h",
        source="synthetic demo",
        synthetic=True,
    )


def resolve_dataset(
    dataset: str,
    data: str | Path | None = None,
    *,
    time_column: str = "date",
    targets: Sequence[str] | None = None,
    covariates: Sequence[str] = (),
    freq: str | None = None,
    encoder_length: int = 0,
    horizon: int = 0,
) -> SeriesFrame:
    """The series a run should use: ``data`` if given, else the named public set or the demo.

    A local file with ETT's columns (and no custom time column or frequency) is loaded and
    checked as ETT; any other file goes through :func:`load_csv_series`. ``targets`` and
    ``covariates`` pick the column roles either way. A named public set that cannot be
    downloaded falls back to :func:`demo_ett` with a warning; a checksum mismatch does not (it
    is raised), since that data must not be trusted.
    """
    if data:
        path = Path(data)
        if time_column == "date" and not freq and is_ett_file(path):
            name = path.stem if path.stem in ETT_FREQ else dataset
            if name in ETT_FREQ:
                return _with_roles(load_ett(path, name), targets, covariates)
        return load_csv_series(
            path, time_column, targets, covariates, freq,
            encoder_length=encoder_length, horizon=horizon,
        )  # fmt: skip
    if dataset == DEMO:
        return _with_roles(demo_ett(), targets, covariates)
    if dataset == "ETTh1":
        try:
            series = load_ett(fetch(dataset), dataset)
        except DatasetUnavailableError as error:
            log.warning("%s", error)
            log.warning(
                "Falling back to the synthetic demo series: every output of this run is "
                "synthetic and is NOT an %s result",
                dataset,
            )
            series = demo_ett()
        return _with_roles(series, targets, covariates)
    if dataset in DATASETS:
        raise ConfigError(
            f"{dataset!r} is a panel data set, not a single series; train on it with --model tft"
        )
    raise ConfigError(
        f"Unknown data set {dataset!r}; expected 'ETTh1' or {DEMO!r}, or a file with --data PATH"
    )


def _with_roles(
    series: SeriesFrame, targets: Sequence[str] | None, covariates: Sequence[str]
) -> SeriesFrame:
    if targets is None and not covariates:
        return series
    covariates = list(covariates)
    chosen = list(targets) if targets is not None else series.columns
    return series.with_roles([c for c in chosen if c not in covariates], covariates)


def resolve_panel(
    dataset: str | None, data: str | Path | None, roles: PanelRoles | None, *, min_length: int
) -> PanelFrame:
    """The panel a TFT run should use: ``data`` with its column roles, else Stallion or the demo.

    A local file gets the roles given, the rest inferred and announced
    (:func:`load_user_panel`); only ``dataset == "stallion"`` applies Stallion's roles and
    feature engineering to it. Without ``data``, ``dataset`` defaults to Stallion. Stallion that
    cannot be downloaded falls back to :func:`demo_panel` with a warning, as
    :func:`resolve_dataset` does for ETTh1.
    """
    roles = roles or PanelRoles()
    given = roles != PanelRoles(calendar=roles.calendar)  # any column role
    if data:
        if dataset == "stallion" and not given and roles.calendar:
            return stallion(data, min_length=min_length)
        if dataset == "stallion":
            log.warning("Panel options are given: reading %s with them, not as Stallion", data)
        elif dataset is not None:
            raise ConfigError(
                f"--dataset {dataset} with --data {data}: a file is read with its own column "
                "roles; leave out --dataset, or pass --dataset stallion for a Stallion file"
            )
        return load_user_panel(data, roles, min_length=min_length)
    dataset = dataset or "stallion"
    if roles != PanelRoles():
        log.warning(
            "Column roles and calendar features apply to --data files only; ignoring them for %r",
            dataset,
        )
    if dataset == DEMO:
        panel = demo_panel()
    elif dataset == "stallion":
        try:
            return stallion(fetch(dataset), min_length=min_length)
        except DatasetUnavailableError as error:
            log.warning("%s", error)
            log.warning(
                "Falling back to the synthetic demo panel: every output of this run is "
                "synthetic and is NOT a Stallion result"
            )
            panel = demo_panel()
    else:
        raise ConfigError(
            f"Unknown panel data set {dataset!r}; expected 'stallion' or {DEMO!r}, or a file "
            "with --data PATH"
        )
    check_panel_lengths(
        panel.frame, panel.schema.group_columns, min_length=min_length, source=panel.source
    )
    return panel
