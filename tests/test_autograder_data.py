"""Module 06's hidden tests: the stored expected values, the reference solution's full marks,
and checks that answer every malformed observation with a message."""
import copy
import functools
import tomllib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from autograder_helpers import AUTOGRADER, close, load, over_the_wire
from tito.exporter import load_exported
from tito.grading import wire
from tito.grading.series import step_distance
from tito.grading.validate import apply_mutant

scenarios, tests = load("scenarios"), load("tests")
TESTS = {test.name: test for test in tests.TESTS}
EXPECTED = tests.load_expected()
CORRECT = sorted((AUTOGRADER / "correct").glob("*.py"))
# The stored data is regenerated on whatever CPU runs the suite; torch may pick another vector
# kernel there, which can change the last bits. Far below the grader's tolerances.
DRIFT_RTOL = {"float64": 1e-13, "float32": 1e-6}


# The tests and their data


def test_expected_data_is_small_and_pickle_free():
    folder = AUTOGRADER / "expected"
    assert sum(p.stat().st_size for p in folder.iterdir()) < 1_500_000  # the anchors included
    for stem in ("expected", "mistakes"):
        assert all(a.dtype != object for a in wire.load_parts(folder / stem)[1].values())


@pytest.mark.parametrize("stem", ["expected", "mistakes"])
def test_stored_data_is_what_torch_and_the_simulated_mistakes_give_now(stem, tmp_path):
    load("make_expected").write_expected(tmp_path)
    stored_tree, old = wire.load_parts(AUTOGRADER / "expected" / stem)
    tree, new = wire.load_parts(tmp_path / stem)
    assert tree == stored_tree
    assert list(old) == list(new)
    for key, a in old.items():
        b = new[key]
        assert a.dtype == b.dtype and a.shape == b.shape, key
        if a.dtype.kind == "f":
            scale = np.max(np.abs(a[np.isfinite(a)]), initial=0.0)
            assert np.all((np.abs(a - b) <= DRIFT_RTOL[str(a.dtype)] * scale)
                          | (np.isnan(a) & np.isnan(b)) | (a == b)), key
        else:
            assert np.array_equal(a, b), key


def test_the_generated_samples_are_what_the_solution_and_the_stub_make_now(tmp_path):
    load("make_expected").write_samples(tmp_path)
    for name in load("make_expected").SAMPLES:
        assert (tmp_path / name).read_text() == (AUTOGRADER / "samples" / name).read_text(), name


def test_every_failing_run_s_diagnosis_compares_with_stored_mistakes_only(monkeypatch):
    """Naming a mistake simulates nothing in the grader: the stored simulations suffice."""
    pitfalls = tests.pitfalls
    monkeypatch.setattr(pitfalls, "simulate", None)
    run = EXPECTED["adam_eps"]["runs"][0]
    assert [m["pitfall"] for m in run["mistakes"]][0] is None
    inside = next(m for m in run["mistakes"] if m["pitfall"] == "eps_inside_sqrt")
    assert tests.trajectory_diagnosis(run)(inside["trajectory"]) == tests.explained(
        [pitfalls.HINTS["eps_inside_sqrt"]])


RUNS = [(name, run) for name, observed in EXPECTED.items() if isinstance(observed, dict)
        for run in observed.get("runs", []) if run.get("inputs") is not None]


@pytest.mark.parametrize("name, run", RUNS, ids=[f"{name}-{run['optimizer']}" for name, run in RUNS])
def test_the_pitfall_simulator_without_a_pitfall_is_torch(name, run):
    """Diagnoses compare with simulated mistakes; the simulation itself must be the spec's rule."""
    trajectory, _ = load("pitfalls").simulate(run["optimizer"], load("make_expected").full_hyper(run),
                                              run["inputs"])
    rtol = tests.RTOL[str(run["trajectory"][0].dtype)]
    assert all(close(ours, theirs, rtol) for ours, theirs in zip(trajectory, run["trajectory"]))


# Implementations that deserve full marks


class Observations(dict):
    def __repr__(self):  # hypothesis prints its arguments
        return "<the solution's observations>"


@pytest.fixture(scope="module")
def solution_observations(solution):
    """Every scenario's observations of the reference solution, as the grader receives them."""
    backend = scenarios.TinyBackend(solution)
    return Observations({name: over_the_wire(scenario(backend))
                         for name, scenario in scenarios.SCENARIOS.items()})


@pytest.mark.parametrize("name", TESTS)
def test_solution_passes(name, solution_observations):
    test = TESTS[name]
    assert test.check(solution_observations[test.scenario], EXPECTED[test.scenario]) is None


@pytest.mark.parametrize("path", CORRECT, ids=[p.stem for p in CORRECT])
def test_every_correct_implementation_passes_every_test(path):
    backend = scenarios.TinyBackend(load_exported(path, f"correct_{path.stem}"))
    failures = {test.name: test.check(over_the_wire(scenarios.SCENARIOS[test.scenario](backend)),
                                      EXPECTED[test.scenario])
                for test in tests.TESTS}
    assert {name: message for name, message in failures.items() if message} == {}


MUTANTS = {m["name"]: m for m in tomllib.loads((AUTOGRADER / "mutants" / "catalogue.toml").read_text())["mutant"]}


@pytest.mark.parametrize("name, mutant, words", [
    ("adam_bias_correction", "adam_corrects_only_v", "m is not bias-corrected"),
    ("adam_eps", "adam_eps_inside_sqrt", "eps is inside the square root"),
    ("momentum_velocity", "velocity_not_kept", "the velocity is created anew at every step"),
    ("dtype", "sgd_float64_promotion", "the learning rate became a numpy float64"),
    ("dtype", "adamw_decay_rebinds", "the learning rate became a numpy float64"),
    ("dtype", "adam_float64_moments", "Its buffer 'exp_avg' is float64"),
    ("adam_moments", "adam_betas_swapped", "beta1 and beta2 are swapped"),
    ("adam_moments", "adam_state_float32", "(a difference of"),
    ("adam_moments", "adam_state_float32", "is float32 while the parameter is float64"),
    ("adam_eps", "adam_eps_added_to_sqrt_v", "eps is added to sqrt(v) instead of sqrt(v_hat)"),
    ("sgd_weight_decay", "sgd_weight_decay_after_momentum", "weight decay is added after the momentum"),
    ("sgd_weight_decay", "sgd_weight_decay_into_grad", "p.grad[0] is"),
    ("sgd_update", "sgd_lr_hard_coded", "the learning rate given is not used"),
    ("momentum_dampening", "dampening_ignored", "dampening is ignored"),
    ("momentum_state", "velocity_outside_state", "kept outside optimizer.state[i]['momentum_buffer']"),
    ("momentum_state", "grad_none_not_skipped", "this test needs step() to skip a parameter whose grad is None"),
    ("defaults", "adamw_default_weight_decay_zero", "its weight_decay is 0.0, the spec's default 0.01"),
    ("cosine_lr", "cosine_eta_min_ignored", "eta_min is left out"),
    ("scheduler_state", "scheduler_state_dict_keeps_optimizer", "drives another optimizer"),
    ("adam_long_run", "adam_correction_dropped_after_100_steps", "The first 100 steps agree"),
])
def test_a_known_mistake_is_named_in_the_message(name, mutant, words, course, tmp_path):
    source = course.module("06").solution.read_text(encoding="utf-8")
    path = tmp_path / "optimizers.py"
    path.write_text(apply_mutant(source, MUTANTS[mutant]["replace"], mutant), encoding="utf-8")
    backend = scenarios.TinyBackend(load_exported(path, f"mistake_{mutant}"))
    try:
        message = TESTS[name].check(over_the_wire(scenarios.SCENARIOS[name](backend)),
                                    EXPECTED[name])
    except Exception as error:  # the worker reports what the student's code raised
        message = str(error)
    assert message and words in message, message
    assert TESTS[name].concept not in message, "the reports show the test's name beside its message"


def test_a_momentum_state_mismatch_shows_the_values():
    with pytest.raises(tests.Mismatch, match=r"at \[1\] 2 against 2.5"):
        tests.compare_momentum_entry(np.array([1.0, 2.0]), {"momentum_buffer": np.array([1.0, 2.5])},
                                     0, "after two steps")


def test_values_that_print_alike_come_with_their_difference():
    assert tests.pair(0.1 + 1e-12, 0.1) == "0.100000000001, expected 0.1 (a difference of 1e-12)"
    assert tests.pair(0.3, 0.1) == "0.3, expected 0.1"


# Malformed observations: a check answers with a message and never raises

JSON_LIKE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5)
    | hnp.arrays(st.sampled_from(["float64", "float32", "int64", "bool", "U3"]),
                 hnp.array_shapes(min_dims=0, max_dims=2, max_side=3)),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)


@settings(max_examples=30, deadline=None)
@given(observed=JSON_LIKE)
def test_checks_answer_garbage_with_a_message(observed):
    for test in tests.TESTS:
        message = test.check(observed, EXPECTED[test.scenario])
        assert isinstance(message, str) and message and not message.startswith(test.concept)


def damage_paths(value, path=()):
    """Every place in an observation, as a path of keys and indices."""
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from damage_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from damage_paths(item, (*path, index))


def damaged(value, path, replacement):
    """A copy of `value` with the item at `path` replaced (or removed, for a dict key)."""
    if not path:
        return replacement
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        copy = dict(value)
        if rest or replacement is not REMOVED:
            copy[head] = damaged(value[head], rest, replacement)
        else:
            del copy[head]
        return copy
    copy = list(value)
    copy[head] = damaged(value[head], rest, None if replacement is REMOVED else replacement)
    return copy


REMOVED = object()
REPLACEMENTS = st.sampled_from([REMOVED, None, "x", 1.5, True, [], {}, np.zeros(7), np.zeros((2, 2)),
                                np.array(["a", "b"]), np.full(3, np.nan)])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_checks_read_damaged_observations_through_their_helpers(data, solution_observations):
    """Any one damaged place gives a pass (a place no check reads) or a specific message,
    never the catch-all one."""
    test = data.draw(st.sampled_from(tests.TESTS), label="test")
    observed = solution_observations[test.scenario]
    path = data.draw(st.sampled_from(list(damage_paths(observed))), label="path")
    message = test.check(damaged(observed, path, data.draw(REPLACEMENTS, label="by")),
                         EXPECTED[test.scenario])
    assert message is None or "unexpected form" not in message


SELF_CONSISTENT = ["grad_none", "defaults", "dtype", "training_loop", "adam_step_counter",
                   "momentum_state", "load_state_dict_restores", "load_state_dict_copies",
                   "checkpoint_disk"]


def test_an_optimizer_that_never_moves_earns_none_of_the_tests_that_compare_it_with_itself(course):
    """Comparing an optimizer with itself must not reward one that does nothing consistently."""
    module = load_exported(course.module("06").solution, "optimizers_that_never_move")
    module.Optimizer.step = lambda self: setattr(self, "step_count", self.step_count + 1)
    backend = scenarios.TinyBackend(module)
    passed = [name for name in SELF_CONSISTENT
              if TESTS[name].check(over_the_wire(scenarios.SCENARIOS[name](backend)), EXPECTED[name]) is None]
    assert passed == []


# The reference side of every comparison of the optimizer with itself is anchored

ANCHORED = {  # test: the paths of its reference side and of what is compared with it
    "adam_step_counter": [("alone", 0, "trajectory", 0), ("together", 0)],
    "defaults": [("SGD", "explicit", "trajectory", 0), ("SGD", "implicit", 0)],
    "dtype": [("runs", 0, "float64", "trajectory", 0), ("runs", 0, "float32", 0)],
    "training_loop": [("runs", 0, "list", "trajectory", 0), ("runs", 0, "generator", "trajectory", 0)],
    "grad_none": [("runs", 0, "alone", 0, "trajectory", 0), ("runs", 0, "trajectory", 0)],
    "load_state_dict_restores": [("SGD", "saved", 0), ("SGD", "resumed", 0)],
    "load_state_dict_copies": [("Adam", "first", 0), ("Adam", "second", 0)],
    "load_state_dict_rejects": [("control", 0), ("after", 0)],
    "checkpoint_disk": [("Adam", "saved", 0), ("Adam", "resumed", 0)],
    "momentum_state": [("fresh_steps", 0), ("after_clear_steps", 0)],
    "momentum_state ": [("continued", 0), ("twin", 0)],
}


def replaced(observed, paths, change):
    """A deep copy of `observed` where the array at each path is change(array)."""
    observed = copy.deepcopy(observed)
    for path in paths:
        *parents, last = path
        holder = functools.reduce(lambda data, key: data[key], parents, observed)
        holder[last] = change(holder[last])
    return observed


def drifting(values):
    """Parameters that drift by 0.01 a step, whatever the optimizer would do."""
    rows = np.arange(len(values)).reshape(-1, *[1] * (values.ndim - 1))
    return (values[0] + 0.01 * rows).astype(values.dtype)


@pytest.mark.parametrize("key", ANCHORED)
def test_a_self_consistent_forgery_fails_where_the_reference_is_not_the_optimizer(key, solution_observations):
    name = key.strip()
    forged = replaced(solution_observations[name], ANCHORED[key], drifting)
    message = TESTS[name].check(forged, EXPECTED[name])
    assert "compares your optimizer with itself, so it needs" in message
    assert "as torch.optim's does, or as a known variant of it: see " in message


KNOWN_MISTAKES = [  # test, its anchored run's path in the expected values, a mistake far from torch
    ("defaults", ("SGD", "explicit"), "update_ascends"),
    ("training_loop", ("runs", 0, "list", "reference"), "velocity_not_kept"),
    ("checkpoint_disk", ("Adam", "reference"), "no_v_correction"),
    ("load_state_dict_restores", ("SGD", "reference"), "momentum_as_ema"),
    ("momentum_state", ("fresh_reference",), "velocity_not_kept"),
]


@pytest.mark.parametrize("name, run_path, pitfall", KNOWN_MISTAKES, ids=[k[0] for k in KNOWN_MISTAKES])
def test_a_known_mistake_of_the_update_rule_still_passes_the_self_comparison(
        name, run_path, pitfall, solution_observations):
    """One bug costs what it breaks: the stored known mistakes are anchors as well as torch."""
    run = functools.reduce(lambda data, key: data[key], run_path, EXPECTED[name])
    mistake = next(m for m in run["mistakes"] if m["pitfall"] == pitfall)
    paths = ANCHORED[name]
    start = run.get("first_step", 0)
    torch_side = functools.reduce(lambda data, key: data[key], paths[0][:-1], EXPECTED[name])
    rows = len(torch_side[0])
    window = [t[start:start + rows] for t in mistake["trajectory"]]
    assert step_distance(window, torch_side) > tests.ANCHOR_RTOL  # far from torch's
    forged = replaced(solution_observations[name], [p[:-1] for p in paths], lambda _: copy.deepcopy(window))
    assert TESTS[name].check(forged, EXPECTED[name]) is None


def test_a_saved_state_dict_must_hold_recognisable_buffers(solution_observations):
    observed = solution_observations["state_dict_copies"]
    emptied = {name: {"at_save": {}, "later": {}} for name in observed}
    assert "is missing" in TESTS["state_dict_copies"].check(emptied, EXPECTED["state_dict_copies"])
    layout_only = copy.deepcopy(observed)
    for sides in layout_only.values():
        for side in (sides["at_save"], sides["later"]):
            side["state"] = {}
    message = TESTS["state_dict_copies"].check(layout_only, EXPECTED["state_dict_copies"])
    assert "no state_dict() taken after 3 steps holds a buffer" in message
    made_up = copy.deepcopy(observed)
    for sides in made_up.values():
        for side in (sides["at_save"], sides["later"]):
            for entry in side["state"].values():
                for key, value in entry.items():
                    if isinstance(value, np.ndarray):
                        entry[key] = np.full_like(value, 0.1)
    message = TESTS["state_dict_copies"].check(made_up, EXPECTED["state_dict_copies"])
    assert "after 3 steps is far from torch.optim's" in message and "see adam_moments" in message


@pytest.mark.parametrize("original, words", [
    ([0.1] * 5, "is 0.1, where torch.optim's is"),
    ([0.02] * 5, "stays at 0.02 where torch.optim's falls"),
    ([0.01, 0.02, 0.02, 0.02, 0.02], "rises"),
])
def test_a_resumed_schedule_s_original_must_be_the_schedule(original, words, solution_observations):
    observed = copy.deepcopy(solution_observations["scheduler_state"])
    for schedule in observed["schedules"]:
        schedule["original"] = schedule["resumed"] = list(original)
    message = TESTS["scheduler_state"].check(observed, EXPECTED["scheduler_state"])
    assert words in message and "see step_lr" in message


def test_a_schedule_one_epoch_late_still_passes_the_round_trip(solution_observations):
    observed = copy.deepcopy(solution_observations["scheduler_state"])
    for schedule, expected in zip(observed["schedules"], EXPECTED["scheduler_state"]["schedules"]):
        late = [expected["original"][0], *expected["original"][:-1]]
        schedule["original"], schedule["resumed"] = late, list(late)
    assert TESTS["scheduler_state"].check(observed, EXPECTED["scheduler_state"]) is None


REFERENCE_RUNS = [  # test, the run its anchors are simulated from, PyTorch's trajectory of it
    ("adam_step_counter", ("alone", 2), ("alone", 2, "trajectory")),
    ("defaults", ("AdamW", "explicit"), ("AdamW", "explicit", "trajectory")),
    ("dtype", ("runs", 1, "float64"), ("runs", 1, "float64", "trajectory")),
    ("training_loop", ("runs", 2, "list", "reference"), ("runs", 2, "list", "trajectory")),
    ("grad_none", ("runs", 1, "alone", 1), ("runs", 1, "alone", 1, "trajectory")),
    ("load_state_dict_restores", ("Adam", "reference"), ("Adam", "saved")),
    ("load_state_dict_copies", ("SGD", "reference"), ("SGD", "first")),
    ("load_state_dict_rejects", ("reference",), ("control",)),
    ("checkpoint_disk", ("SGD", "reference"), ("SGD", "saved")),
    ("momentum_state", ("reference",), ("continued",)),
    ("momentum_state", ("fresh_reference",), ("fresh_steps",)),
]


@pytest.mark.parametrize("name, run_path, trajectory_path", REFERENCE_RUNS,
                         ids=[f"{r[0]}-{r[1][-1]}" for r in REFERENCE_RUNS])
def test_an_anchor_s_simulated_spec_is_torch_s_trajectory(name, run_path, trajectory_path):
    """The stored known mistakes of a reference run are simulated over the steps it shows."""
    run = functools.reduce(lambda data, key: data[key], run_path, EXPECTED[name])
    trajectory = functools.reduce(lambda data, key: data[key], trajectory_path, EXPECTED[name])
    spec = run["mistakes"][0]
    assert spec["pitfall"] is None
    start = run.get("first_step", 0)
    assert all(close(s[start:start + len(t)], t, 1e-10) and len(s) >= start + len(t)
               for s, t in zip(spec["trajectory"], trajectory))


def test_the_step_distance_counts_steps_not_where_a_run_started():
    anchor = [np.array([[0.0, 0.0], [0.1, -0.2], [0.2, -0.4]])]
    assert step_distance([anchor[0] + 5.0], anchor) < 1e-14  # the same steps from elsewhere
    assert step_distance([np.zeros((3, 2))], anchor) == pytest.approx(1.0)  # not moving
    assert step_distance([-anchor[0]], anchor) == pytest.approx(2.0)  # moving the wrong way
    nan = np.array([[1.0], [np.nan], [np.nan]])
    assert step_distance([nan], [nan]) == 0.0  # NaN where the anchor is NaN is no difference
    assert step_distance([np.array([[1.0], [2.0], [3.0]])], [nan]) == np.inf
