import lightning.pytorch as pl
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from forecasting.errors import ConfigError
from forecasting.models.informer.forecaster import InformerForecaster

from .conftest import PRED, tiny_batch, tiny_kwargs


def loader(n=8):
    return DataLoader(TensorDataset(*tiny_batch(batch_size=n)), batch_size=4)


def trainer(tmp_path, **kwargs):
    return pl.Trainer(
        accelerator="cpu", default_root_dir=tmp_path, logger=False, enable_progress_bar=False,
        enable_model_summary=False, **kwargs,
    )  # fmt: skip


def test_fast_dev_run_fits_validates_tests_and_predicts(tmp_path):
    module = InformerForecaster(**tiny_kwargs(), learning_rate=1e-3)
    t = trainer(tmp_path, fast_dev_run=True)
    t.fit(module, loader(), loader())
    assert {"train_loss", "val_loss"} <= set(t.callback_metrics)
    metrics = t.test(module, loader(), verbose=False)[0]
    assert set(metrics) == {"test_mse", "test_mae"}
    predictions = t.predict(module, loader())
    assert predictions[0].shape == (4, PRED, 3)


def test_checkpoint_loads_with_weights_only(tmp_path):
    module = InformerForecaster(**tiny_kwargs(revin=True), learning_rate=1e-3)
    t = trainer(tmp_path, max_epochs=1, limit_train_batches=1, limit_val_batches=1)
    t.fit(module, loader(), loader())
    path = tmp_path / "model.ckpt"
    t.save_checkpoint(path)
    checkpoint = torch.load(path, weights_only=True)
    assert checkpoint["hyper_parameters"]["revin"] is True
    restored = InformerForecaster.load_from_checkpoint(path).eval()
    module.eval()
    batch = tiny_batch()
    torch.manual_seed(1)  # same ProbSparse key samples for both
    expected = module(*batch)
    torch.manual_seed(1)
    torch.testing.assert_close(restored(*batch), expected)


def test_learning_rate_halves_every_epoch():
    module = InformerForecaster(**tiny_kwargs(), learning_rate=1e-3)
    config = module.configure_optimizers()
    optimizer, scheduler = config["optimizer"], config["lr_scheduler"]["scheduler"]
    assert config["lr_scheduler"]["interval"] == "epoch"
    lrs = []
    for _ in range(3):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs == pytest.approx([1e-3, 5e-4, 2.5e-4])


def test_unknown_loss_is_a_config_error():
    with pytest.raises(ConfigError, match="loss"):
        InformerForecaster(**tiny_kwargs(), loss="quantile")
