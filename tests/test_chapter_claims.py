"""Every claim the chapter's text makes about an experiment, checked on the same experiment: the
notebook's own cells run (with the solution's optimizers) and each sentence's figures are
compared seed by seed, so a change that breaks a conclusion fails here."""
import re
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


def test_valley_sgd_is_best_at_its_largest_rate_below_2_over_50_and_the_next_diverges(valley):
    chapter, figures, _ = valley
    sgd = figures[0.0]["SGD"]
    assert chapter["best_lr"](sgd) == max(lr for lr in sgd if lr < 2 / 50)
    start = np.log10(chapter["descend_valley"](chapter["RACERS"]["SGD"][0](0.0), 0.0, 0)[1][0])
    assert min(np.min(f) for lr, f in sgd.items() if lr > 2 / 50) > start  # worse than the start


def test_valley_momentum_nesterov_and_adam_end_lower_than_sgd_and_nesterov_below_momentum(valley):
    _, _, best = valley
    aligned = best[0.0]
    for name in ("Momentum", "Nesterov", "Adam"):
        assert np.all(aligned[name] < aligned["SGD"]), name
    assert np.all(aligned["Nesterov"] < aligned["Momentum"])


def test_turning_the_valley_changes_nothing_for_sgd_and_momentum_and_adam_stays_below_sgd(valley):
    chapter, figures, best = valley
    for name in ("SGD", "Momentum", "Nesterov"):
        for lr in figures[0.0][name]:
            aligned = chapter["descend_valley"](chapter["RACERS"][name][0](lr), 0.0, 1)[1]
            turned = chapter["descend_valley"](chapter["RACERS"][name][0](lr), np.pi / 4, 1)[1]
            np.testing.assert_allclose(turned, aligned, rtol=1e-6, atol=1e-12)
    assert np.max(np.abs(best[np.pi / 4]["Adam"] - best[0.0]["Adam"])) > 0.01  # Adam's runs change
    assert np.all(best[np.pi / 4]["Adam"] < best[np.pi / 4]["SGD"])


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
    assert np.min(times["Adam"][0]) < 2 * np.min(times["SGD"][0])  # the least disturbed repeats
    assert np.min(times["Adam"][1]) > np.min(times["SGD"][1])  # the step alone costs more


def test_on_cache_resident_data_sqrt_is_slower_than_scaling_by_a_number():
    chapter = run_cells("state_bytes", "adam_kernels", "in_place_timing_setup")
    rates = chapter["cache_resident_rates"](repeats=50)
    assert rates["np.sqrt(a)"] < rates["a *= c"]


def test_nesterovs_look_ahead_form_is_the_spec_s_update():
    chapter = run_cells("nesterov_derivation")
    assert chapter["gap"] < 1e-12


def test_adagrad_keeps_falling_slowly_and_rmsprop_falls_fast_then_stops_at_a_floor():
    chapter = run_cells("adam_parents")
    adagrad = chapter["adaptive_descent"](chapter["PARENTS"]["Adagrad (sum of g^2)"])
    rmsprop = chapter["adaptive_descent"](chapter["PARENTS"]["RMSProp (average of g^2, beta 0.9)"])
    assert adagrad[299] < adagrad[99] < adagrad[29]
    assert rmsprop[29] < adagrad[29] and rmsprop[299] >= rmsprop[29]


def test_decay_that_spares_the_offset_fits_it_and_still_shrinks_the_slope():
    chapter = run_cells("decay_groups")
    slope, offset = chapter["fit_line"](decay_bias=True)
    spared_slope, spared_offset = chapter["fit_line"](decay_bias=False)
    assert offset < 3 and abs(spared_offset - 5) < 0.1
    assert slope < 2 and spared_slope < 2


def test_an_old_optimizer_does_not_train_a_replaced_layer_and_its_state_does_not_load():
    chapter = run_cells("race_setup", "spirals_setup", "checkpoint", "replaced_params")
    assert np.array_equal(chapter["model"].layers[-1].parameters()[0].data, chapter["head"])
    with pytest.raises(ValueError, match="shape"):
        chapter["Adam"](chapter["model"].parameters(), lr=0.01).load_state_dict(chapter["saved"])


def test_constant_lr_settles_at_the_predicted_noise_floor_and_schedules_go_below_it():
    chapter = run_cells("schedule_plot", "noisy_setup")
    losses = {name: chapter["noisy_descent"](make) for name, make in chapter["NOISY"].items()}
    constant, step, cosine = losses.values()
    lr, noise = 0.03, 5.0
    floor = sum(lr * noise ** 2 / (2 * (2 - lr * c)) for c in (1.0, 50.0))  # check your understanding 8
    assert abs(constant[-20:].mean() - floor) < 0.2 * floor
    np.testing.assert_array_equal(step[:150], constant[:150])  # the same steps until the first drop
    assert step[-20:].mean() < constant[-20:].mean() and cosine[-20:].mean() < constant[-20:].mean()


def test_spirals_which_of_momentum_and_adam_ends_lowest_depends_on_the_seed(spirals):
    chapter, runs = spirals
    momentum, adam = ([chapter["figure_of_merit"](r["losses"]) for r in runs[name]]
                      for name in ("Momentum", "Adam"))
    assert any(m < a for m, a in zip(momentum, adam)) and any(a < m for m, a in zip(momentum, adam))


def test_the_chapter_asks_questions_with_answers_and_two_written_answers_graded_by_hand():
    cells = read_cells(SOLUTION)
    questions = [c for c in cells if c.kind == "markdown" and "Check your understanding" in c.source]
    assert len(questions) >= 8
    assert all("<details><summary>Answer</summary>" in c.source for c in questions)
    written = [c for c in cells if c.kind == "markdown" and c.nbgrader.get("grade")]
    assert len(written) >= 2
    for cell in written:
        assert cell.nbgrader["solution"] and cell.nbgrader["points"] > 0 and not cell.nbgrader["locked"]
        assert cell.source.startswith("### BEGIN SOLUTION") and "Rubric" in cell.source


def test_no_formula_escapes_an_underscore_inside_text():
    broken = [c.location for c in read_cells(SOLUTION) if c.kind == "markdown" and "\\_" in c.source]
    assert broken == []


PITFALLS = {  # each pitfall the chapter lists (spec/06_course_context.md): words of a visible hint
    "swapped betas": "betas swapped",
    "no bias correction": "bias correction missing",
    "bias correction on one moment only": "only m bias-corrected",
    "m divided in place by its correction": "divided in place",
    "eps inside the square root": "eps goes outside the square root",
    "t not incremented": "t stuck at 1",
    "t incremented once per parameter": "incremented once per parameter",
    "v built from g": "instead of g * g",
    "the velocity recreated each step": "recreated at every step",
    "momentum as an average": "written as an average",
    "lr folded into the velocity": "lr folded into the velocity",
    "Nesterov ignored": "nesterov ignored",
    "AdamW decay in the gradient": "folded into the gradient",
    "AdamW decay without lr": "learning rate missing from the decay",
    "weight decay after the momentum buffer": "after the momentum buffer",
    "grad None not skipped": "failed on a parameter whose grad is None",
    "grad None as zero": "treating a missing gradient as zero",
    "forgetting zero_grad": "pile up",
    "state kept outside self.state": "kept elsewhere",
    "a state_dict aliasing live buffers": "copy every array",
    "load forgets step_count": "restore them from the state_dict",
    "load forgets the hyper-parameters": "restore the hyper-parameters",
    "float32 turned into float64": "numpy treats its own scalars as typed",
    "an optimizer built before the model's layers exist": "built before the model's layers exist",
    "parameters replaced while keeping old state": "replaced parameter",
}


@pytest.mark.parametrize("pitfall", PITFALLS)
def test_every_pitfall_the_chapter_lists_has_a_visible_test_that_names_it(pitfall):
    source = "\n".join(c.source for c in read_cells(SOLUTION) if c.is_graded)
    hints = re.sub(r'"\s*\n\s*f?"', "", source)  # implicitly joined string literals, joined
    assert PITFALLS[pitfall] in hints
