"""Loading a user CSV, and the message for every kind of bad input."""

import numpy as np
import pytest

from forecasting.data.series import load_csv_series
from forecasting.errors import ConfigError, DataValidationError

HEADER = "date,a,b\n"
ROWS = [
    "2016-07-01 00:00:00,1,2",
    "2016-07-01 01:00:00,3,4",
    "2016-07-01 02:00:00,5,6",
    "2016-07-01 03:00:00,7,8",
]


def csv_with(**replace: str) -> str:
    """The four good rows, with row ``rN`` (file line N) replaced."""
    rows = [replace.get(f"r{line}", row) for line, row in enumerate(ROWS, start=2)]
    return HEADER + "\n".join(rows) + "\n"


def test_loads_a_regular_csv(write_csv, hourly_csv):
    path = write_csv(hourly_csv(5, ("a", "b", "c")))
    series = load_csv_series(path, covariates=["c"])
    assert series.targets == ["a", "b"] and series.covariates == ["c"]
    assert list(series.frame.columns) == ["a", "b", "c"]
    assert series.frame.index.name == "date" and series.freq == "h"
    assert (series.frame.dtypes == np.float64).all()
    assert series.frame["b"].tolist() == [1, 11, 21, 31, 41]
    assert series.source == str(path) and not series.synthetic and len(series) == 5


@pytest.mark.parametrize(
    ("column", "values", "requested"),
    [
        ("power", ["12.5 kW", "13.0 kW", "11.9 kW"], None),
        ("level", ["high", "low", "high"], None),
        ("power", ["12.5 kW", "13.0 kW", "11.9 kW"], ["a", "power"]),
    ],
)
def test_a_text_target_is_an_error_naming_the_column_and_a_value(
    write_csv, column, values, requested
):
    """It used to be dropped with a warning, and the model registered without that target."""
    rows = "".join(f"2016-07-0{day},{day},{v}\n" for day, v in enumerate(values, start=1))
    path = write_csv(f"date,a,{column}\n{rows}")
    with pytest.raises(DataValidationError) as error:
        load_csv_series(path, targets=requested)
    message = str(error.value)
    assert message.startswith(f"{path}, line 2, column {column!r}: "), message
    assert repr(values[0]) in message


def test_explicit_targets_and_given_frequency(write_csv, hourly_csv):
    series = load_csv_series(write_csv(hourly_csv(4, freq="15min")), targets=["b"], freq="15T")
    assert series.targets == ["b"] and series.freq == "15min"


def test_trailing_blank_lines_and_whitespace_are_accepted(write_csv):
    text = "date,a\n2016-07-01 00:00, 1 \n2016-07-01 01:00,2\n2016-07-01 02:00,3\n\n\n"
    assert load_csv_series(write_csv(text)).frame["a"].tolist() == [1, 2, 3]


def test_monthly_frequency_is_inferred(write_csv):
    text = "month,v\n2020-01-01,1\n2020-02-01,2\n2020-03-01,3\n2020-04-01,4\n"
    assert load_csv_series(write_csv(text), time_column="month").freq == "MS"


BAD_INPUTS = {
    "missing column": (
        HEADER.replace(",b", ",c") + "\n".join(ROWS) + "\n",
        {"targets": ["a", "b"]},
        ["line 1", "missing column 'b'", "'date', 'a', 'c'"],
    ),
    "missing time column": (
        csv_with(),
        {"time_column": "timestamp"},
        ["line 1", "missing column 'timestamp'"],
    ),
    "non-numeric value": (
        csv_with(r4="2016-07-01 02:00:00,5,abc"),
        {},
        ["line 4", "column 'b'", "expected a number, got 'abc'"],
    ),
    "empty cell": (
        csv_with(r3="2016-07-01 01:00:00,,4"),
        {},
        ["line 3", "column 'a'", "empty cell"],
    ),
    "short row": (
        csv_with(r5="2016-07-01 03:00:00,7"),
        {},
        ["line 5", "column 'b'", "empty cell"],
    ),
    "NaN token": (
        csv_with(r2="2016-07-01 00:00:00,1,NaN"),
        {},
        ["line 2", "column 'b'", "missing value 'NaN'"],
    ),
    "infinite value": (
        csv_with(r3="2016-07-01 01:00:00,inf,4"),
        {},
        ["line 3", "column 'a'", "finite number, got 'inf'"],
    ),
    "duplicate timestamp": (
        csv_with(r4="2016-07-01 01:00:00,5,6"),
        {},
        ["line 4", "column 'date'", "duplicate timestamp 2016-07-01 01:00:00", "line 3"],
    ),
    "unordered timestamps": (
        csv_with(r3="2016-07-01 02:00:00,3,4", r4="2016-07-01 01:00:00,5,6"),
        {},
        ["line 4", "column 'date'", "expected rows sorted by increasing time"],
    ),
    "gap in the series": (
        csv_with(r4="2016-07-01 05:00:00,5,6", r5="2016-07-01 06:00:00,7,8")
        + "2016-07-01 07:00:00,9,10\n",
        {},
        ["line 4", "column 'date'", "irregular time step", "'h'", "2016-07-01 02:00:00"],
    ),
    "step differs from the given frequency": (
        csv_with(),
        {"freq": "30min"},
        ["line 3", "column 'date'", "'30min' (given)", "2016-07-01 00:30:00"],
    ),
    "unparseable timestamp": (
        csv_with(r4="2016-07-01 25:00:00,5,6"),
        {},
        ["line 4", "column 'date'", "cannot parse timestamp '2016-07-01 25:00:00'"],
    ),
    "empty timestamp": (
        csv_with(r3=",3,4"),
        {},
        ["line 3", "column 'date'", "empty timestamp"],
    ),
    "blank line inside the data": (
        csv_with(r3=""),
        {},
        ["line 3", "empty row"],
    ),
    "too many fields": (
        csv_with(r4="2016-07-01 02:00:00,5,6,7"),
        {},
        ["line 4", "4 fields but the header has 3"],
    ),
    "duplicate header name": (
        "date,a,a\n" + "\n".join(ROWS) + "\n",
        {},
        ["line 1", "column 'a' appears more than once"],
    ),
    "semicolon separated": (
        HEADER.replace(",", ";") + "\n".join(r.replace(",", ";") for r in ROWS) + "\n",
        {},
        ["line 1", "expected comma-separated values", "looks ';'-separated"],
    ),
    "header only": (HEADER, {}, ["line 1", "no data rows"]),
    "zero bytes": ("", {}, ["the file is empty (0 bytes)"]),
    "blank lines only": ("\n\n", {}, ["the file is empty"]),
    "no numeric column": (
        "date,name\n2016-07-01,x\n2016-07-02,y\n",
        {},
        ["line 2", "column 'name' holds text, not numbers (e.g. 'x')", "--targets"],
    ),
    "series too short": (
        csv_with(),
        {"encoder_length": 3, "horizon": 2},
        ["series 'data' has 4 rows", "at least 5", "encoder length 3 + horizon 2"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_message_names_file_column_and_line(case, write_csv):
    text, kwargs, expected = BAD_INPUTS[case]
    path = write_csv(text)
    with pytest.raises(DataValidationError) as error:
        load_csv_series(path, **kwargs)
    message = str(error.value)
    assert message.startswith(str(path)), message
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"
    assert "\n" not in message


def test_many_bad_cells_are_counted(write_csv):
    text = csv_with(r2="2016-07-01 00:00:00,x,y", r3="2016-07-01 01:00:00,z,4")
    with pytest.raises(DataValidationError, match=r"line 2, column 'a'.*\(2 more bad cells"):
        load_csv_series(write_csv(text))


def test_irregular_monthly_data_names_the_gap(write_csv):
    text = "date,v\n2020-01-01,1\n2020-02-01,2\n2020-04-01,3\n2020-05-01,4\n2020-06-01,5\n"
    with pytest.raises(DataValidationError, match=r"line 4, column 'date': irregular.*'MS'"):
        load_csv_series(write_csv(text))


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(DataValidationError, match="not found"):
        load_csv_series(tmp_path / "nope.csv")
    with pytest.raises(DataValidationError, match="expected a data file"):
        load_csv_series(tmp_path)


def test_binary_file_is_rejected(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes(b"\xff\xfe\x00\x01binary")
    with pytest.raises(DataValidationError, match="not a UTF-8 text file"):
        load_csv_series(path)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"targets": ["a"], "covariates": ["a"]},
        {"targets": []},
        {"targets": ["date"]},
    ],
)
def test_inconsistent_column_roles_are_config_errors(kwargs, write_csv):
    with pytest.raises(ConfigError):
        load_csv_series(write_csv(csv_with()), **kwargs)


def test_windows_line_endings_and_byte_order_mark(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes(("\ufeff" + csv_with()).replace("\n", "\r\n").encode("utf-8"))
    series = load_csv_series(path)
    assert series.targets == ["a", "b"] and series.frame["b"].tolist() == [2, 4, 6, 8]
