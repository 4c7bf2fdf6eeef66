"""Every claim the chapter's text makes about an experiment, checked on the same experiment: the
notebook's own cells run (with the solution's optimizers) and each sentence's figures are
compared seed by seed, so a change that breaks a conclusion fails here."""
from pathlib import Path

import matplotlib
import numpy as np
import pytest

from tito.cells import read_cells

pytestmark = pytest.mark.tito

SOLUTION = Path(__file__).resolve().parents[1] / "solutions" / "06_optimizers" / "optimizers.py"
SEEDS = range(3)


def run_cells(*grade_ids: str) -> dict:
    """The namespace after the exported cells and the named notebook cells, in notebook order."""
    matplotlib.use("Agg")
    namespace = {"__name__": "chapter"}
    for cell in read_cells(SOLUTION):
        if cell.is_export or cell.nbgrader.get("grade_id") in grade_ids or cell.nbgrader.get(
                "grade_id") == "notebook_imports":
            exec(cell.compile(), namespace)
    return namespace


@pytest.fixture(scope="module")
def valley():
    chapter = run_cells("race_setup")
    figures = {angle: chapter["sweep"](
        lambda make, seed, angle=angle: chapter["descend_valley"](make, angle, seed)[1])
        for angle in (0.0, np.pi / 4)}
    best = {angle: {name: np.array(f[chapter["best_lr"](f)]) for name, f in by_name.items()}
            for angle, by_name in figures.items()}
    return chapter, figures, best


def test_valley_sgd_is_best_at_the_largest_rate_of_its_sweep_just_under_divergence(valley):
    chapter, figures, _ = valley
    sgd = figures[0.0]["SGD"]
    assert chapter["best_lr"](sgd) == max(sgd) < 2 / 50


def test_valley_momentum_nesterov_and_adam_end_lower_than_sgd_and_nesterov_below_momentum(valley):
    _, _, best = valley
    aligned = best[0.0]
    for name in ("Momentum", "Nesterov", "Adam"):
        assert np.all(aligned[name] < aligned["SGD"]), name
    assert np.all(aligned["Nesterov"] < aligned["Momentum"])


def test_turning_the_valley_changes_nothing_for_sgd_and_momentum_and_hurts_adam(valley):
    chapter, figures, best = valley
    for name in ("SGD", "Momentum", "Nesterov"):
        for lr in figures[0.0][name]:
            aligned = chapter["descend_valley"](chapter["RACERS"][name][0](lr), 0.0, 1)[1]
            turned = chapter["descend_valley"](chapter["RACERS"][name][0](lr), np.pi / 4, 1)[1]
            np.testing.assert_allclose(turned, aligned, rtol=1e-6, atol=1e-12)
    assert np.all(best[np.pi / 4]["Adam"] > best[0.0]["Adam"])


def test_valley_adamw_stops_at_a_floor_above_adam(valley):
    _, _, best = valley
    assert np.all(best[0.0]["AdamW"] > best[0.0]["Adam"])


@pytest.fixture(scope="module")
def spirals():
    chapter = run_cells("race_setup", "spirals_setup")
    runs = {}
    for name, (build, lrs) in chapter["SPIRAL_RACERS"].items():
        by_lr = {lr: [chapter["train_spirals"](build(lr), seed=seed) for seed in SEEDS] for lr in lrs}
        best = chapter["best_lr"]({lr: [chapter["figure_of_merit"](r["losses"]) for r in rs]
                                   for lr, rs in by_lr.items()})
        runs[name] = by_lr[best]
    return chapter, runs


def test_spirals_sgd_has_the_highest_training_loss_in_every_seed(spirals):
    chapter, runs = spirals
    figure = {name: np.array([chapter["figure_of_merit"](r["losses"]) for r in rs])
              for name, rs in runs.items()}
    for name in ("Momentum", "Nesterov", "Adam", "AdamW"):
        assert np.all(figure[name] < figure["SGD"]), name


def test_spirals_adamw_trades_training_loss_for_held_out_loss_with_smaller_weights(spirals):
    _, runs = spirals
    adam, adamw = runs["Adam"], runs["AdamW"]
    for a, w in zip(adam, adamw):
        assert w["losses"][-20:].mean() > a["losses"][-20:].mean()
        assert w["held_out_loss"] < a["held_out_loss"]
        assert w["weight_norm"] < a["weight_norm"]


def test_adams_whole_training_step_costs_less_than_twice_sgds():
    chapter = run_cells("state_bytes", "training_step_timing")
    times = chapter["STEP_TIMES"]
    assert np.median(times["Adam"][0]) < 2 * np.median(times["SGD"][0])
    assert np.median(times["Adam"][1]) > np.median(times["SGD"][1])  # the step alone costs more


def test_on_cache_resident_data_sqrt_is_slower_than_scaling_by_a_number():
    chapter = run_cells("state_bytes", "adam_kernels", "in_place_timing_setup")
    rates = chapter["cache_resident_rates"](repeats=50)
    assert rates["np.sqrt(a)"] < rates["a *= c"]
