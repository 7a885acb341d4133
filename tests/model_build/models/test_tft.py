"""The TFT's building blocks on a tiny demo panel: data set, JSON codec, fast data path, module."""

from __future__ import annotations

import json
from dataclasses import replace
from types import SimpleNamespace

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import pytest
import torch
from lightning.pytorch.trainer.states import RunningStage
from lightning.pytorch.utilities.data import _update_dataloader
from pytorch_forecasting import TemporalFusionTransformer, TimeSeriesDataSet
from pytorch_forecasting.data import EncoderNormalizer, GroupNormalizer
from pytorch_forecasting.metrics import QuantileLoss
from torch.utils.data import BatchSampler, DistributedSampler

from forecasting.data.panel import TIME_IDX
from forecasting.data.stallion import demo_panel
from forecasting.errors import ConfigError, DataValidationError
from forecasting.models.tft import codec
from forecasting.models.tft.dataset import (
    auto_test_origins,
    clip_forecasts,
    fit_dataset,
    from_parameters,
    prepare_panel,
    split_dataset,
)
from forecasting.models.tft.module import QUANTILES, TFTForecaster
from forecasting.models.tft.preprocessing import Cutoffs, TFTPreprocessing
from forecasting.models.tft.windows import (
    ROW,
    STEP,
    WINDOW,
    MaterializedWindows,
    fast_loader,
    narrowest_code_dtype,
)

ENCODER, MIN_ENCODER, HORIZON = 8, 2, 3
TINY_NETWORK = {"hidden_size": 8, "attention_head_size": 2, "hidden_continuous_size": 4}


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Tiny tensors: a second intra-op thread only adds synchronisation (100x slower on 2 cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def panel():
    return demo_panel(n_series=6, n_steps=30, seed=1)


@pytest.fixture(scope="module")
def prepared(panel):
    """(split frames, preprocessing.json content as read back from the file)."""
    splits, preprocessing = prepare_panel(
        panel, max_encoder_length=ENCODER, min_encoder_length=MIN_ENCODER, horizon=HORIZON
    )
    # what the channel file holds, read back
    return splits, TFTPreprocessing.from_dict(json.loads(json.dumps(preprocessing.to_dict())), "p")


@pytest.fixture(scope="module")
def fitted(panel, prepared):
    """The data set as fitted in preprocess, before any JSON."""
    _, preprocessing = prepared
    return fit_dataset(
        panel,
        train_end=preprocessing.cutoffs.train,
        max_encoder_length=ENCODER,
        min_encoder_length=MIN_ENCODER,
        horizon=HORIZON,
    )


@pytest.fixture(scope="module")
def train_set(prepared):
    splits, preprocessing = prepared
    return split_dataset(splits["train"], preprocessing, "train")


@pytest.fixture(scope="module")
def train_windows(train_set):
    return MaterializedWindows(train_set)


def assert_same_value(actual, expected, where: str) -> None:
    if isinstance(expected, torch.Tensor):
        assert isinstance(actual, torch.Tensor), where
        assert actual.dtype == expected.dtype, f"{where}: {actual.dtype} != {expected.dtype}"
        assert actual.shape == expected.shape, f"{where}: {actual.shape} != {expected.shape}"
        assert torch.equal(actual, expected), where
    elif isinstance(expected, np.ndarray):
        assert isinstance(actual, np.ndarray), where
        assert actual.dtype == expected.dtype, where
        np.testing.assert_array_equal(actual, expected, err_msg=where)
    elif isinstance(expected, dict):
        assert isinstance(actual, dict) and actual.keys() == expected.keys(), where
        for key in expected:
            assert_same_value(actual[key], expected[key], f"{where}[{key!r}]")
    elif isinstance(expected, list | tuple):
        assert type(actual) is type(expected) and len(actual) == len(expected), where
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_same_value(a, e, f"{where}[{i}]")
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


def assert_same_batch(actual, expected) -> None:
    """Every tensor of (x, (target, weight)) has the same dtype, shape and values."""
    x, (target, weight) = actual
    x_pf, (target_pf, weight_pf) = expected
    assert x.keys() == x_pf.keys()
    assert_same_value(x, x_pf, "x")
    assert_same_value(target, target_pf, "target")
    assert weight is None and weight_pf is None


def pf_batch(dataset: TimeSeriesDataSet, indices) -> tuple:
    return dataset._collate_fn([dataset[int(i)] for i in indices])


# --- data set and splits -------------------------------------------------------------------


def test_cutoffs_keep_the_test_horizon_out_of_model_selection():
    holdout = Cutoffs.for_panel(29, 3, "holdout")
    assert (holdout.train, holdout.validation, holdout.test) == (23, 26, 29)
    tutorial = Cutoffs.for_panel(29, 3, "tutorial")
    assert (tutorial.train, tutorial.validation, tutorial.test) == (26, 29, 29)
    with pytest.raises(ConfigError, match="unknown split protocol 'ett_hour'"):
        Cutoffs.for_panel(29, 3, "ett_hour")


def test_validation_and_test_forecast_one_window_per_series_after_their_cutoff(prepared):
    splits, preprocessing = prepared
    cutoffs = preprocessing.cutoffs.to_dict()
    for split, previous in (("validation", "train"), ("test", "validation")):
        dataset = split_dataset(splits[split], preprocessing, split)
        x, _ = MaterializedWindows(dataset).__getitems__(range(len(dataset)))
        assert len(dataset) == 6  # one forecast per series
        assert (x["decoder_lengths"] == HORIZON).all()
        assert (x["decoder_time_idx"][:, 0] == cutoffs[previous] + 1).all()
        assert int(x["decoder_time_idx"].max()) == cutoffs[split]


def test_prepare_panel_rejects_impossible_lengths(panel):
    with pytest.raises(ConfigError, match="min encoder length 9 must be between 1"):
        prepare_panel(panel, max_encoder_length=8, min_encoder_length=9, horizon=3)
    with pytest.raises(ConfigError, match="horizon must be at least 1"):
        prepare_panel(panel, max_encoder_length=8, min_encoder_length=2, horizon=0)
    with pytest.raises(ConfigError, match="leave no training window"):
        prepare_panel(panel, max_encoder_length=30, min_encoder_length=20, horizon=5)


# --- the JSON codec ------------------------------------------------------------------------


def test_parameters_round_trip_to_identical_text(fitted):
    text = codec.dumps(fitted.get_parameters())
    assert codec.dumps(codec.loads(text)) == text
    json.loads(text)  # plain JSON text, nothing pickled


def test_a_data_set_rebuilt_from_decoded_parameters_yields_identical_samples(fitted, prepared):
    splits, preprocessing = prepared
    frame = splits["train"]
    assert frame[TIME_IDX].max() == preprocessing.cutoffs.train
    rebuilt = TimeSeriesDataSet.from_parameters(
        codec.loads(codec.dumps(fitted.get_parameters())), frame
    )
    # and what the train step builds from preprocessing.json
    from_channel = from_parameters(preprocessing.dataset_parameters, frame)
    assert len(rebuilt) == len(from_channel) == len(fitted) > 0
    for i in range(len(fitted)):
        expected = fitted[i]
        assert_same_value(rebuilt[i], expected, f"sample {i}")
        assert_same_value(from_channel[i], expected, f"sample {i}")


def test_codec_round_trips_every_tagged_form():
    frame = pd.DataFrame(
        {"center": [1.5, 2.5], "scale": [0.5, 1.0]},
        index=pd.MultiIndex.from_tuples([("a", "x"), ("b", "y")], names=["agency", "sku"]),
    )
    value = {
        "array": np.arange(6, dtype=np.float32).reshape(2, 3),
        "tensor": torch.tensor([1, 2], dtype=torch.int64),
        "tuple": (1, "two", None),
        "non_string_keys": {("a", "x"): 0, 1: "one"},
        "__type__ key": {"__type__": "not a tag"},
        "frame": frame,
        "scalar": np.float64(2.5),
    }
    text = codec.dumps(value)
    decoded = codec.loads(text)
    assert codec.dumps(decoded) == text
    assert decoded["array"].dtype == np.float32 and decoded["array"].shape == (2, 3)
    assert torch.equal(decoded["tensor"], value["tensor"])
    assert decoded["tuple"] == (1, "two", None)
    assert decoded["non_string_keys"] == {("a", "x"): 0, 1: "one"}
    assert decoded["__type__ key"] == {"__type__": "not a tag"}
    pd.testing.assert_frame_equal(decoded["frame"], frame)


@pytest.mark.parametrize(
    "stored",
    [
        {"__type__": "object", "class": "os.system", "state": {"command": "echo pwned"}},
        [{"nested": {"__type__": "object", "class": "builtins.eval", "state": {}}}],
    ],
)
def test_decode_refuses_a_class_that_is_not_allow_listed(stored):
    with pytest.raises(DataValidationError, match="refusing to restore an object of class"):
        codec.decode(stored)


def test_decode_refuses_an_unknown_tag():
    with pytest.raises(DataValidationError, match="unknown tag 'pickle'"):
        codec.decode({"__type__": "pickle", "data": "gASVAAAA"})


@pytest.mark.parametrize("value", [object(), {"ok": [1, object()]}, lambda: None, {1, 2}])
def test_encode_raises_type_error_for_anything_not_allow_listed(value):
    with pytest.raises(TypeError, match="cannot store a"):
        codec.encode(value)


# --- the fast data path --------------------------------------------------------------------


def test_windows_cover_short_encoders_and_decoders(train_windows, train_set):
    """The fixture must exercise padding and trimming, or the comparisons below prove little."""
    assert len(train_windows) == len(train_set)
    assert int(train_windows.encoder_lengths.min()) == MIN_ENCODER
    assert int(train_windows.encoder_lengths.max()) == ENCODER
    assert int(train_windows.decoder_lengths.min()) == 1
    assert int(train_windows.decoder_lengths.max()) == HORIZON


def index_lists(windows: MaterializedWindows) -> list[list[int]]:
    rng = np.random.default_rng(0)
    n = len(windows)
    short_encoder = torch.nonzero(windows.encoder_lengths < ENCODER).flatten().tolist()
    short_decoder = torch.nonzero(windows.decoder_lengths < HORIZON).flatten().tolist()
    lists = [rng.choice(n, size=size, replace=False).tolist() for size in (1, 2, 7, 32, 64)]
    lists += [
        list(range(n)),
        rng.choice(short_encoder, size=5, replace=False).tolist(),  # encoder trimmed
        rng.choice(short_decoder, size=5, replace=False).tolist(),  # decoder trimmed
        [short_encoder[0], short_decoder[0]],  # both padded in one batch
        [3, 3, 7],  # a DistributedSampler pads a shard by repeating indices
    ]
    return lists


def test_fast_batches_equal_pytorch_forecastings_collate(train_set, train_windows):
    trimmed = {"encoder": False, "decoder": False}
    for indices in index_lists(train_windows):
        batch = train_windows.__getitems__(indices)
        assert_same_batch(batch, pf_batch(train_set, indices))
        trimmed["encoder"] |= batch[0]["encoder_cont"].shape[1] < ENCODER
        trimmed["decoder"] |= batch[0]["decoder_cont"].shape[1] < HORIZON
    assert trimmed == {"encoder": True, "decoder": True}


def test_materialized_windows_store_categorical_codes_narrow(train_set, train_windows):
    # the codes are stored in the narrowest type that holds them; batches are int64 (above)
    assert int(train_set.data["categoricals"].max()) < 256
    assert train_windows.categoricals.dtype == torch.uint8
    assert train_windows[0][0]["encoder_cat"].dtype == torch.int64


def test_only_what_getitem_computes_per_window_is_stored_per_window(train_set, train_windows):
    kinds = dict(zip(train_set.reals, train_windows.kinds, strict=True))
    # the target scaled by each window's own encoder, and the position in the window
    assert kinds.pop("volume") == kinds.pop("relative_time_idx") == STEP
    # one value per window: its encoder length and the target's scale
    assert kinds.pop("encoder_length") == kinds.pop("volume_center") == kinds.pop("volume_scale")
    assert train_windows.window_columns and set(kinds.values()) == {ROW}  # the covariates
    per_window = sum(
        t.element_size() * t[0].numel()
        for t in (train_windows.window_values, train_windows.step_values)
    )
    assert (
        per_window
        < train_set.data["reals"][0].element_size()
        * train_set.data["reals"].shape[1]
        * (ENCODER + HORIZON)
        / 2
    )


def test_a_column_that_a_later_window_contradicts_changes_kind(train_windows):
    def after(kinds, cont):
        return train_windows._kinds_after({0: ({"x_cont": cont}, (None, None))}, kinds)

    rows = train_windows.reals[:4]
    constant = rows.clone()
    constant[:, 0] = 9.0  # one value over the window, not the rows'
    stepped = constant.clone()
    stepped[:, 1] = torch.arange(4.0) + 100  # a value per step
    kinds = [ROW] * rows.shape[1]
    assert after(kinds, rows) == kinds
    kinds = after(kinds, constant)
    assert kinds[:2] == [WINDOW, ROW] and set(kinds[2:]) == {ROW}
    kinds = after(kinds, stepped)
    assert kinds[:2] == [WINDOW, STEP] and set(kinds[2:]) == {ROW}
    assert after(kinds, rows) == kinds  # kinds never come back


def test_kinds_the_sample_missed_are_found_and_every_window_taken_again(
    train_set, train_windows, monkeypatch
):
    classify, calls = MaterializedWindows._kinds_after, []

    def sample_sees_nothing(self, samples, kinds):
        calls.append(len(samples))
        return kinds if len(calls) == 1 else classify(self, samples, kinds)

    monkeypatch.setattr(MaterializedWindows, "_kinds_after", sample_sees_nothing)
    windows = MaterializedWindows(train_set)
    assert len(calls) == 2  # the sample, then the first chunk, whose batch differed
    assert windows.kinds == train_windows.kinds
    for indices in index_lists(windows):
        assert_same_batch(windows.__getitems__(indices), pf_batch(train_set, indices))


def test_fast_batches_equal_pf_collate_under_the_group_normalizer(panel, prepared):
    _, preprocessing = prepared
    dataset = fit_dataset(
        panel,
        train_end=preprocessing.cutoffs.train,
        max_encoder_length=ENCODER,
        min_encoder_length=MIN_ENCODER,
        horizon=HORIZON,
        normalizer="group",
    )
    windows = MaterializedWindows(dataset)
    assert windows.kinds.count(STEP) == 1  # relative_time_idx: the target is scaled per series
    for indices in index_lists(windows):
        assert_same_batch(windows.__getitems__(indices), pf_batch(dataset, indices))


def test_windows_with_filled_in_time_steps_are_refused(panel):
    frame = panel.frame.drop(index=[5, 6]).reset_index(drop=True)  # a gap in the first series
    dataset = TimeSeriesDataSet(
        frame,
        time_idx=TIME_IDX,
        target=panel.schema.target,
        group_ids=list(panel.schema.group_columns),
        max_encoder_length=ENCODER,
        max_prediction_length=HORIZON,
        time_varying_unknown_reals=[panel.schema.target],
        allow_missing_timesteps=True,
    )
    with pytest.raises(ConfigError, match="are not all runs of consecutive rows"):
        MaterializedWindows(dataset)


@pytest.mark.parametrize(
    ("codes", "dtype"),
    [([0, 255], torch.uint8), ([0, 256], torch.int16), ([-1, 3], torch.int16),
     ([0, 40_000], torch.int32), ([0, 2**31], torch.int64), ([], torch.uint8)],
)  # fmt: skip
def test_categorical_codes_get_the_narrowest_type_that_holds_them(codes, dtype):
    assert narrowest_code_dtype(torch.tensor(codes, dtype=torch.int64)) == dtype


def test_fast_batches_equal_pf_collate_for_prediction_windows(prepared):
    splits, preprocessing = prepared
    dataset = split_dataset(splits["test"], preprocessing, "test")
    windows = MaterializedWindows(dataset)
    indices = list(range(len(dataset)))
    assert_same_batch(windows.__getitems__(indices), pf_batch(dataset, indices))
    assert_same_batch(windows[2], pf_batch(dataset, [2]))


@pytest.mark.parametrize("rank", [0, 1])
def test_fast_loader_under_a_distributed_sampler_yields_pf_batches(train_set, train_windows, rank):
    """The loader as Lightning re-creates it for DDP: its dataset, collate_fn, a DistributedSampler.

    ``_update_dataloader`` is Lightning's own (private) helper for that swap.
    """
    loader = fast_loader(train_windows, batch_size=16, train=True)
    sampler = DistributedSampler(train_windows, num_replicas=2, rank=rank, shuffle=True, seed=7)
    distributed = _update_dataloader(loader, sampler, mode=RunningStage.TRAINING)
    assert distributed.sampler is sampler and distributed.drop_last
    sampler.set_epoch(1)
    expected = list(BatchSampler(sampler, batch_size=16, drop_last=True))
    batches = list(distributed)
    assert len(batches) == len(expected) == len(sampler) // 16 > 0
    for indices, batch in zip(expected, batches, strict=True):
        assert_same_batch(batch, pf_batch(train_set, indices))


def test_distributed_shards_split_the_windows_between_ranks(train_windows):
    shards = [
        list(DistributedSampler(train_windows, num_replicas=2, rank=r, shuffle=True, seed=7))
        for r in (0, 1)
    ]
    n = len(train_windows)
    assert [len(s) for s in shards] == [-(-n // 2)] * 2
    assert set(shards[0]) | set(shards[1]) == set(range(n))


def test_fast_loader_shuffles_and_drops_the_last_batch_only_for_training(train_windows):
    train = fast_loader(train_windows, batch_size=16, train=True)
    validation = fast_loader(train_windows, batch_size=16, train=False)
    assert len(train) == len(train_windows) // 16
    assert len(validation) == -(-len(train_windows) // 16)
    first = next(iter(validation))
    assert torch.equal(first[0]["encoder_lengths"], train_windows.encoder_lengths[:16])


class _StubDataSet:
    def __init__(self, n: int = 0, multi_target: bool = False, weight: str | None = None):
        self.n, self.multi_target, self.weight = n, multi_target, weight

    def __len__(self) -> int:
        return self.n


@pytest.mark.parametrize(
    ("stub", "message"),
    [
        (_StubDataSet(0), "has no windows"),
        (_StubDataSet(5, multi_target=True), "one target and no sample weights"),
        (_StubDataSet(5, weight="w"), "one target and no sample weights"),
    ],
)
def test_materialized_windows_name_what_they_cannot_hold(stub, message):
    # (pytorch-forecasting itself asserts before a data set could ever be empty)
    with pytest.raises(ConfigError, match=message):
        MaterializedWindows(stub)


# --- the module ----------------------------------------------------------------------------


def tiny_module(dataset: TimeSeriesDataSet, **overrides) -> TFTForecaster:
    kwargs = {**TINY_NETWORK, **overrides}
    return TFTForecaster.from_dataset(
        dataset,
        plain_hparams={**kwargs, "max_encoder_length": ENCODER, "horizon": HORIZON},
        loss=QuantileLoss(quantiles=list(QUANTILES)),
        logging_metrics=torch.nn.ModuleList(),
        log_interval=-1,
        learning_rate=0.03,
        **kwargs,
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory, prepared, train_set, train_windows):
    """A module after a few real training steps, and the checkpoint Lightning wrote for it."""
    splits, preprocessing = prepared
    val_windows = MaterializedWindows(
        split_dataset(splits["validation"], preprocessing, "validation")
    )
    torch.manual_seed(0)
    module = tiny_module(train_set)
    directory = tmp_path_factory.mktemp("tft_checkpoint")
    trainer = pl.Trainer(
        accelerator="cpu",
        max_epochs=1,
        limit_train_batches=3,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        default_root_dir=directory,
    )
    trainer.fit(
        module,
        fast_loader(train_windows, 16, train=True),
        fast_loader(val_windows, 16, train=False),
    )
    path = directory / "tft.ckpt"
    trainer.save_checkpoint(path)
    return module, path


def test_checkpoints_load_under_weights_only_and_hold_no_pickled_objects(trained):
    module, path = trained
    assert torch.serialization.get_unsafe_globals_in_checkpoint(path) == []
    checkpoint = torch.load(path)  # weights_only=True is torch's default
    assert torch.load(path, weights_only=True).keys() == checkpoint.keys()
    assert checkpoint["hyper_parameters"] == module.plain_hparams
    assert checkpoint["hyper_parameters"]["hidden_size"] == 8
    assert "dataset_parameters" not in checkpoint
    assert TFTForecaster.CHECKPOINT_HYPER_PARAMS_SPECIAL_KEY not in checkpoint
    assert "hparams_name" not in checkpoint


def test_constructor_arguments_rebuild_an_identical_network(trained, train_windows):
    module, path = trained
    arguments = json.loads(json.dumps(module.constructor_arguments()))  # as config.json holds it
    rebuilt = TFTForecaster.from_constructor_arguments(arguments)
    rebuilt.load_state_dict(module.state_dict(), strict=True)
    assert rebuilt.quantiles == list(QUANTILES) == module.quantiles
    assert rebuilt.plain_hparams == module.plain_hparams
    from_checkpoint = TFTForecaster.from_constructor_arguments(arguments)
    from_checkpoint.load_state_dict(torch.load(path)["state_dict"], strict=True)

    x, _ = train_windows.__getitems__(range(40))
    with torch.no_grad():
        expected = module.eval()(x)
        for other in (rebuilt.eval(), from_checkpoint.eval()):
            output = other(x)
            for key in ("prediction", "encoder_attention", "decoder_attention"):
                assert torch.equal(output[key], expected[key]), key
            for key in ("static_variables", "encoder_variables", "decoder_variables"):
                assert torch.equal(output[key], expected[key]), key


def test_every_logged_value_is_reduced_across_ranks(train_set, monkeypatch):
    calls = []
    monkeypatch.setattr(
        TemporalFusionTransformer,
        "log",
        lambda self, *args, **kwargs: calls.append(kwargs),
        raising=False,
    )
    module = tiny_module(train_set)
    module.log("val_loss", torch.tensor(1.0), on_epoch=True)
    module.log("train_loss", torch.tensor(2.0), sync_dist=False)
    assert [call["sync_dist"] for call in calls] == [True, True]


def test_only_rank_zero_draws_figures(train_set, monkeypatch):
    drawn = []
    for name in ("log_prediction", "log_interpretation", "log_embeddings"):
        monkeypatch.setattr(
            TemporalFusionTransformer,
            name,
            lambda self, *args, _name=name, **kwargs: drawn.append(_name),
        )
    module = tiny_module(train_set)
    module._trainer = SimpleNamespace(global_rank=1)
    assert module.log_prediction({}, {}, 0) is None
    assert module.log_interpretation([]) is None
    module.log_embeddings()
    assert drawn == []
    module._trainer = SimpleNamespace(global_rank=0)
    module.log_prediction({}, {}, 0)
    module.log_interpretation([])
    module.log_embeddings()
    assert drawn == ["log_prediction", "log_interpretation", "log_embeddings"]


@pytest.mark.parametrize(
    ("name", "kind"), [("encoder", EncoderNormalizer), ("group", GroupNormalizer)]
)
def test_the_chosen_target_normalizer_is_fitted_saved_and_rebuilt(panel, name, kind):
    splits, preprocessing = prepare_panel(
        panel,
        max_encoder_length=ENCODER,
        min_encoder_length=MIN_ENCODER,
        horizon=HORIZON,
        normalizer=name,
    )
    preprocessing = TFTPreprocessing.from_dict(json.loads(json.dumps(preprocessing.to_dict())), "p")
    assert preprocessing.target_normalizer == name
    rebuilt = split_dataset(splits["validation"], preprocessing, "validation")
    assert type(rebuilt.target_normalizer) is kind


def test_trained_series_are_the_series_with_training_windows(panel, prepared):
    _, preprocessing = prepared
    groups = list(panel.schema.group_columns)
    expected = set(panel.frame[groups].astype(str).itertuples(index=False, name=None))
    assert set(preprocessing.trained_series) == expected


def test_an_unknown_target_normalizer_is_named(panel):
    with pytest.raises(ConfigError, match="target normalizer 'robust'"):
        prepare_panel(
            panel,
            max_encoder_length=ENCODER,
            min_encoder_length=MIN_ENCODER,
            horizon=HORIZON,
            normalizer="robust",
        )


# --- the test window and non-negative targets (issue 17, item 9) ---------------------------


def test_rolling_test_origins_score_back_to_back_horizons(panel):
    splits, preprocessing = prepare_panel(
        panel, max_encoder_length=ENCODER, min_encoder_length=MIN_ENCODER, horizon=HORIZON,
        test_origins=3,
    )  # fmt: skip
    cutoffs = preprocessing.cutoffs.to_dict()
    assert cutoffs == {
        "train": 17, "validation": 20, "test": 29, "protocol": "holdout", "test_origins": 3
    }  # fmt: skip
    dataset = split_dataset(splits["test"], preprocessing, "test")
    x, _ = MaterializedWindows(dataset).__getitems__(range(len(dataset)))
    assert len(dataset) == 6 * 3  # one forecast per series and origin
    assert (x["decoder_lengths"] == HORIZON).all() and (x["encoder_lengths"] == ENCODER).all()
    starts = dataset.x_to_index(x).groupby(["agency", "sku"])[TIME_IDX].apply(sorted)
    assert all(list(s) == [21, 24, 27] for s in starts)  # the whole test window, no overlap
    validation = split_dataset(splits["validation"], preprocessing, "validation")
    assert len(validation) == 6  # model selection still sees one horizon before the test


def test_the_default_test_window_is_a_tenth_of_the_time_range():
    assert auto_test_origins(60, 6) == 1  # Stallion's months keep the single test horizon
    assert auto_test_origins(384, 6) == 6  # 4 days of 15-minute load
    assert auto_test_origins(100_000, 6) == 20  # at most 20 origins
    assert auto_test_origins(10, 6) == 1
    with pytest.raises(ConfigError, match="--test-origins 2 needs --split holdout"):
        Cutoffs.for_panel(29, 3, "tutorial", test_origins=2)
    with pytest.raises(ConfigError, match="at least 1"):
        Cutoffs.for_panel(29, 3, "holdout", test_origins=0)


def test_a_non_negative_target_is_recorded_and_its_forecasts_are_clipped(panel, prepared):
    _, preprocessing = prepared
    assert preprocessing.nonnegative_target is True  # the demo's volume
    shifted = replace(panel, frame=panel.frame.assign(volume=panel.frame["volume"] - 500.0))
    _, signed = prepare_panel(
        shifted, max_encoder_length=ENCODER, min_encoder_length=MIN_ENCODER, horizon=HORIZON
    )
    assert signed.nonnegative_target is False
    forecast = torch.tensor([[-2.0, 0.5], [3.0, -0.1]])
    assert clip_forecasts(forecast, preprocessing).tolist() == [[0.0, 0.5], [3.0, 0.0]]
    assert torch.equal(clip_forecasts(forecast, signed), forecast)
