"""The project's targets, one row each: the sections and the targets summary read them here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    """A limit a measured value must reach: at least it (``at_least``), or at most it."""

    limit: float
    at_least: bool
    unit: str = ""  # written right after the number, e.g. "×", " GiB"; "%" shows a fraction

    def met(self, value: float) -> bool:
        return value >= self.limit if self.at_least else value <= self.limit

    def verdict(self, value: float) -> str:
        """``met`` or a bold ``**not met**``, as the page writes a verdict."""
        return "met" if self.met(value) else "**not met**"

    @property
    def limit_text(self) -> str:
        """The limit as the page writes it: ``1.7×``, ``1,000``, ``50%``."""
        if self.unit == "%":
            return f"{self.limit:.0%}"
        return f"{self.limit:,g}{self.unit}"

    @property
    def bound(self) -> str:
        """The comparison and the limit: ``≥ 1.7×``, ``≤ 240``."""
        return f"{'≥' if self.at_least else '≤'} {self.limit_text}"


TARGETS: dict[str, Target] = {
    # Informer at the paper's size: training windows/s against the official code's fp32 rate
    "informer_paper_speed": Target(2.5, at_least=True, unit="×"),
    # model FLOP utilisation against the matrix-multiply peak of the precision used
    "informer_mfu": Target(0.5, at_least=True, unit="%"),
    # our default size against the official code's windows/s, at the paper's accuracy
    "informer_default_speed": Target(10, at_least=True, unit="×"),
    "etth1_mse": Target(0.45, at_least=False),  # ETTh1 M/24 test MSE
    "tft_speed": Target(3, at_least=True, unit="×"),  # TFT epoch against the tutorial path
    "tft_mae": Target(240, at_least=False),  # TFT Stallion validation MAE
    "ddp_scaling": Target(1.7, at_least=True, unit="×"),  # 2 ranks against 1 rank
    # ProbSparse growth exponent above that of L·log L over the same lengths
    "probsparse_excess_exponent": Target(0.05, at_least=False),
    "tft_scale_peak": Target(8.0, at_least=False, unit=" GiB"),  # peak RSS at a 100× panel
    "inference_rate": Target(1000, at_least=True),  # series forecast per second per core
    "synth_seconds": Target(10.0, at_least=False, unit=" s"),  # cdk synth
    "suite_minutes": Target(10.0, at_least=False, unit=" min"),  # the full test suite, 2 cores
}
