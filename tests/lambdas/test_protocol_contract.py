"""Protocol constants that deployable units must spell alike, pinned where they are copied.

The Lambda asset ships ``lambdas/`` alone (no model_build, no infra), so a few names live in
two places; these tests fail when one side changes without the other.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pandas as pd

from forecasting import errors as forecasting_errors
from forecasting.inference import handler as inference_handler
from infra import batch_inference
from lambdas import errors as lambda_errors
from lambdas.batch_transform import events, planning
from lambdas.publish import handler as publish_handler
from lambdas.publish.rows import ForecastRow, parse_forecasts, utc_offset
from local_mode import layout


def test_the_rules_match_the_event_names_the_handlers_accept():
    assert batch_inference.MODEL_PACKAGE_STATE_CHANGE == events.DETAIL_TYPE
    assert batch_inference.TRANSFORM_JOB_STATE_CHANGE == publish_handler.DETAIL_TYPE


def test_one_name_for_a_configuration_error_in_every_layer():
    """infra raises forecasting's ConfigError; the Lambdas, which ship without model_build, raise
    their own class of the same name and base."""
    assert lambda_errors.ConfigError.__name__ == forecasting_errors.ConfigError.__name__
    assert issubclass(lambda_errors.ConfigError, ValueError)
    assert issubclass(forecasting_errors.ConfigError, ValueError)
    assert planning.ConfigError is publish_handler.ConfigError is lambda_errors.ConfigError


def test_the_stack_local_mode_and_the_lambda_publish_under_one_prefix():
    assert (
        batch_inference.FORECASTS_PREFIX
        == layout.FORECASTS_PREFIX
        == publish_handler.DEFAULT_FORECASTS_PREFIX
    )
    assert batch_inference.MANIFEST_KEY.startswith(f"{publish_handler.DEFAULT_FORECASTS_PREFIX}/")


def test_publishing_reads_the_offsets_the_inference_handler_writes():
    """A forecast of a +05:30 history parses to the same instants, and publishes the offset
    back as the handler spelt it."""
    zone = timezone(timedelta(hours=5, minutes=30))
    stamps = pd.date_range("2024-01-25 18:00", periods=2, freq="h", tz=zone)
    written = list(inference_handler.format_timestamps(stamps))
    text = "series_id,target,timestamp,horizon_step,p50,p10,p90,model,model_version\n" + "".join(
        f"A,load,{stamp},{step},1,,,informer,1\n" for step, stamp in enumerate(written, start=1)
    )
    rows: list[ForecastRow] = parse_forecasts(text, "part.csv.out")
    assert [row.timestamp for row in rows] == [stamp.to_pydatetime() for stamp in stamps]
    assert {utc_offset(row.timestamp) for row in rows} == {written[0][-6:]} == {"+05:30"}
    assert rows[0].timestamp == datetime(2024, 1, 25, 12, 30, tzinfo=UTC)
