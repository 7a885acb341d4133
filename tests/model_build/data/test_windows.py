import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from forecasting.errors import ConfigError
from forecasting.models.informer.windows import WindowDataset


def make(n_rows=20, n_columns=3, n_marks=2, **kwargs):
    values = np.arange(n_rows * n_columns, dtype=np.float32).reshape(n_rows, n_columns)
    marks = -np.arange(n_rows * n_marks, dtype=np.float32).reshape(n_rows, n_marks)
    args = {"seq_len": 6, "label_len": 3, "pred_len": 2, **kwargs}
    return values, marks, WindowDataset(values, marks, **args)


def test_length_and_window_contents():
    values, marks, dataset = make()
    assert len(dataset) == 20 - 6 - 2 + 1
    for i in (0, 5, len(dataset) - 1):
        x, x_mark, y, y_mark = dataset[i]
        np.testing.assert_array_equal(x.numpy(), values[i : i + 6])
        np.testing.assert_array_equal(x_mark.numpy(), marks[i : i + 6])
        np.testing.assert_array_equal(y.numpy(), values[i + 3 : i + 8])
        np.testing.assert_array_equal(y_mark.numpy(), marks[i + 3 : i + 8])
    # The last window's horizon ends exactly at the last row.
    assert dataset[len(dataset) - 1][2][-1, 0].item() == values[-1, 0]


def test_target_idx_keeps_only_target_columns():
    values, _, dataset = make(target_idx=[2])
    x, _, y, _ = dataset[4]
    assert x.shape == (6, 3) and y.shape == (5, 1)
    np.testing.assert_array_equal(y.numpy()[:, 0], values[7:12, 2])


def test_items_are_views_not_copies():
    _, _, dataset = make()
    first, second = dataset[0][0], dataset[1][0]
    assert first.untyped_storage().data_ptr() == second.untyped_storage().data_ptr()
    assert first.dtype == torch.float32


def test_label_len_zero_and_negative_index():
    _, _, dataset = make(label_len=0)
    assert dataset[0][2].shape == (2, 3)
    torch.testing.assert_close(dataset[-1][0], dataset[len(dataset) - 1][0])
    with pytest.raises(IndexError):
        dataset[len(dataset)]


def test_batches_through_a_dataloader():
    _, _, dataset = make(target_idx=[0, 1])
    x, x_mark, y, y_mark = next(iter(DataLoader(dataset, batch_size=4)))
    assert x.shape == (4, 6, 3) and x_mark.shape == (4, 6, 2)
    assert y.shape == (4, 5, 2) and y_mark.shape == (4, 5, 2)


def test_too_short_segment_names_the_lengths():
    values = np.zeros((7, 2), dtype=np.float32)
    with pytest.raises(ConfigError, match=r"7 rows.*seq_len \(6\) \+ pred_len \(2\) = 8"):
        WindowDataset(values, values, seq_len=6, label_len=3, pred_len=2)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"seq_len": 0},
        {"pred_len": 0},
        {"label_len": 7},
        {"label_len": -1},
        {"target_idx": [3]},
        {"target_idx": []},
    ],
)
def test_invalid_arguments_are_config_errors(kwargs):
    with pytest.raises(ConfigError):
        make(**kwargs)


def test_mismatched_marks_are_rejected():
    with pytest.raises(ConfigError, match="same T"):
        WindowDataset(np.zeros((10, 2)), np.zeros((9, 1)), seq_len=3, label_len=1, pred_len=1)
