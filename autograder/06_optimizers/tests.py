"""Module 06's hidden tests, the grader's half (see docs/grading.md): names, points and checks.

A check returns None, or a message for the student that says what was measured, what was
expected and, where it can, the likely mistake. Observations come from untrusted code in any
JSON-like shape, so they are read through helpers that turn a missing key or a wrong shape into
such a message: a check never raises.

A test's points depend on its concept, so each test compares only what its concept decides:
- The update rules (SGD, momentum, Adam's moments, bias correction, eps, weight decay, AdamW)
  compare with what PyTorch did in the same scenario (expected/, made by make_expected.py), each
  Adam rule on one parameter per optimizer, where the step count is not its concept.
- Every other concept (grad None, dtype, defaults, the training loop, the step count, momentum
  state, state_dict and checkpoints, schedulers) compares the student's optimizer with itself: a
  skipped parameter is unchanged and the others move as in a run without it; the defaults step as
  the spec's values written out; float32 stays float32 and follows the same run in float64; a
  resumed run equals the uninterrupted one. Such a test also asks that the optimizer moves, and
  says which part of the student's code it needs when it does not. What the spec makes
  bit-identical is compared exactly (NaN where the other is NaN counts as the same). Both sides
  come from the worker, so the reference side is anchored: it must step as PyTorch's optimizer
  does, or as a stored known mistake of it, within ANCHOR_RTOL (see `anchored`).

Tolerances, relative to the largest magnitude in the compared array, chosen per concept:
- float64, 1e-10, where eps plays no part (SGD, momentum, Adam's m and v). A correct
  implementation may order its arithmetic differently; that changes the last bits only (the
  reference solution stays within 1e-14 of PyTorch after 1000 Adam steps).
- Adam's steps, 1e-4, on gradients of 1e-2 and more. There eps's place (inside or outside the
  square root, added to sqrt(v) or to sqrt(v_hat)) changes the values by less than 1e-5, while
  the mistakes these tests are about change them by 1e-3 or more (AdamW's decay after the update,
  the least of them, by 1.7e-3).
- Adam's eps, 1e-6, on gradients of 1e-8 and 1e-6, where eps's place changes the values by 1e-2.
- float32, 1e-5: a float32 run against the same implementation's float64 run. Every step rounds
  to float32 (an ulp is 6e-8); correct implementations stay within 3e-7 after 10 steps.
- learning rates, 1e-12: PyTorch's schedulers update the lr recursively; a closed form is as right.
"""
from pathlib import Path

import numpy as np

from tito.grading import wire
from tito.grading.files import load_file
from tito.grading.observations import (
    Mismatch, array, describe, differing, first_difference, graded, item, listed, path_text,
    same_value)
from tito.grading.series import (
    compare_anchored, compare_identical, compare_series, distance, index_text, moved, pair,
    values_apart, when)

HERE = Path(__file__).resolve().parent
RTOL = {"float64": 1e-10, "float32": 1e-5}
DIAGNOSIS_RTOL = {"float64": 1e-9, "float32": 1e-5}  # how close a simulated pitfall must come


pitfalls, scenarios = load_file(HERE / "pitfalls.py"), load_file(HERE / "scenarios.py")


def load_expected() -> dict:
    """The expected observations; each run with inputs carries its simulated known mistakes
    under "mistakes" (both made by make_expected.py)."""
    expected = wire.load(HERE / "expected" / "expected")
    for path, mistakes in wire.load(HERE / "expected" / "mistakes").items():
        run = expected
        for key in path.split("/"):
            run = run[int(key) if isinstance(run, list) else key]
        run["mistakes"] = mistakes
    return expected


# ---------------------------------------------------------------------------------------------
# Comparing trajectories and buffers


def run_label(run: dict) -> str:
    hyper = ", ".join(f"{k}={tuple(v) if isinstance(v, list) else v!r}"
                      for k, v in run["hyper"].items())
    hold = (run.get("inputs") or {}).get("hold", 1)
    kept = f" with each gradient left in p.grad for {hold} steps" if hold > 1 else ""
    return f"{run['optimizer']}({hyper}){kept}"


def explained(hints: list[str]) -> list[str]:
    return [f"This is what happens when {hint}." for hint in hints]


def trajectory_diagnosis(run: dict):
    """Explanations of wrong trajectories: the known mistakes whose stored simulation reproduces
    them, or for gradients kept in p.grad over several steps, what only shows there."""
    if run.get("inputs") is None:
        return None
    hold = run["inputs"].get("hold", 1)

    def diagnose(observed):
        hints = pitfalls.diagnose(
            run.get("mistakes", []),
            lambda m: max(distance(o, s) for o, s in zip(observed, m["trajectory"])),
            DIAGNOSIS_RTOL[run_dtype(run)])
        if not hints and steps_of_run(run) >= 100:
            k = first_differing_step(observed, run["trajectory"], RTOL[run_dtype(run)])
            if k > 10:
                return [f"The first {k - 1} steps agree: does a bias correction stop, or change, "
                        "after some steps? With beta2 = 0.999, v's correction matters for "
                        "thousands of steps."]
        if hints or hold == 1:
            return explained(hints)
        return [f"Here each gradient stays in p.grad for {hold} steps: does step() write into "
                "p.grad, or keep p.grad itself as a buffer? It must only read it."]

    return diagnose


def steps_of_run(run: dict) -> int:
    return len(run["trajectory"][0]) - 1


def first_differing_step(observed: list, expected: list, rtol: float) -> int:
    rows = [np.argmax(differing(o, e, ADAM_STEP).reshape(len(e), -1).any(axis=1))
            for o, e in zip(observed, expected)]
    return int(min(rows))


def buffer_diagnosis(run: dict, i: int, key: str):
    """A diagnosis of parameter i's buffer `key`, one row per step."""

    def far(observed, mistake):
        simulated = (mistake["buffers"].get(key) or [None] * (i + 1))[i]
        if simulated is None or len(simulated) != len(observed):
            return np.inf
        return distance(observed, simulated)

    return lambda observed: explained(pitfalls.diagnose(
        run.get("mistakes", []), lambda m: far(observed[0], m), DIAGNOSIS_RTOL[run_dtype(run)]))


def run_dtype(run: dict) -> str:
    return str(run["trajectory"][0].dtype)


def compare_dtypes(observed: dict, expected: dict, label: str) -> None:
    dtypes = item(observed, "dtypes", "the dtypes")
    for i, names in enumerate(expected["dtypes"]):
        got = listed(item(dtypes, i, f"parameter {i}'s dtypes"), len(names), f"parameter {i}'s dtypes")
        for k, (name, want) in enumerate(zip(got, names)):
            if not same_value(name, want):
                raise Mismatch(
                    f"{label}: parameter {i} was {names[0]} and is {describe(name)} {when(k)}. An "
                    "update keeps the parameter's dtype: update p.data in place, or cast the "
                    "result back with .astype(p.data.dtype).")


def compare_buffers(observed: dict, expected: dict, key: str, label: str) -> None:
    """Parameter i's buffer `key` in optimizer.state[i], after every step."""
    states = expected["state"]
    got = listed(item(observed, "state", "the recorded state"), len(states), "the recorded state")
    for i in range(len(expected["trajectory"])):
        rows = [(entry_of(obs_step, i, key, label, k), exp_step[i][key])
                for k, (obs_step, exp_step) in enumerate(zip(got, states), start=1)]
        shape = rows[0][1].shape
        try:
            compare_series([np.stack([array(o, shape, f"optimizer.state[{i}][{key!r}]") for o, _ in rows])],
                           [np.stack([e for _, e in rows])], label, RTOL[run_dtype(expected)],
                           lambda _: f"optimizer.state[{i}][{key!r}]", first_step=1,
                           diagnose=buffer_diagnosis(expected, i, key), moves=False)
        except Mismatch as failure:
            narrow = next((o.dtype for o, e in rows if isinstance(o, np.ndarray) and o.dtype.kind == "f"
                           and o.dtype.itemsize < e.dtype.itemsize), None)
            if narrow is None:
                raise
            raise Mismatch(f"{failure} optimizer.state[{i}][{key!r}] is {narrow} while the parameter "
                           f"is {rows[0][1].dtype}: the buffer rounds every step to {narrow}. Create "
                           "it with np.zeros_like(p.data), which keeps the parameter's dtype.") from None


def entry_of(step_state, i: int, key: str, label: str, k: int):
    entry = item(step_state, i, f"optimizer.state[{i}] {when(k)}")
    if not isinstance(entry, dict) or key not in entry:
        holds = sorted(entry) if isinstance(entry, dict) else describe(entry)
        raise Mismatch(f"{label}, {when(k)}: optimizer.state[{i}] has no {key!r} (it holds {holds}). "
                       f"The spec keeps this buffer in optimizer.state[i][{key!r}], where "
                       "state_dict() finds it for a checkpoint.")
    return entry[key]


def compare_grads_after(observed: dict, expected: dict, label: str) -> None:
    """After step(), p.grad is what was set (the optimizer only reads it); after the training
    loop's zero_grad(), it is None."""
    after = expected.get("grads_after_call", "step()")
    grads = listed(item(observed, "grads_after", "the grads"), len(expected["grads_after"]), "the grads")
    for i, (got, want) in enumerate(zip(grads, expected["grads_after"])):
        if want is None or got is None:
            same = got is None and want is None
        else:
            same = np.array_equal(array(got, want.shape, f"parameter {i}'s grad"), want)
        if same:
            continue
        if after == "zero_grad()":
            zeros = isinstance(got, np.ndarray) and got.dtype.kind in "biuf" and not got.any()
            raise Mismatch(
                f"{label}: after the last zero_grad(), parameter {i}'s p.grad is {describe(got)}, "
                "expected None. " + ("zero_grad() sets every p.grad to None, not to zeros." if zeros
                                     else "Does the optimizer keep its parameters in a list? A "
                                     "generator, like model.parameters(), can be gone through "
                                     "only once."))
        raise Mismatch(
            f"{label}: step() changed parameter {i}'s gradient: after the last step p.grad"
            f"{grad_change(got, want)}. The optimizer only reads p.grad: grad = grad + "
            "weight_decay * p makes a new array where grad += ... writes into p.grad, and a "
            "velocity starts as a copy of g.")


def grad_change(got, want) -> str:
    if want is None or got is None or not isinstance(got, np.ndarray) or got.shape != want.shape:
        return f" is {describe(got)} where it was set to {describe(want)}"
    with np.errstate(all="ignore"):
        differs = ~(got.astype(np.float64) == want)
    j = np.unravel_index(int(np.argmax(differs)), differs.shape)
    return f"{index_text(j)} is {pair(float(got[j]), float(want[j]))}, the value it was set to"


def compare_run(observed, expected: dict, buffers=(), rtol=None, trajectory=True) -> None:
    """Parameters (unless not `trajectory`) within `rtol` of PyTorch's, and each buffer in
    `buffers` within float64's exact-arithmetic tolerance: the moments and velocities involve
    no eps, and depend on the gradients alone."""
    label = run_label(expected)
    compare_dtypes(observed, expected, label)
    compare_grads_after(observed, expected, label)
    if trajectory:
        compare_series(item(observed, "trajectory", "the trajectory"), expected["trajectory"], label,
                       rtol or RTOL[run_dtype(expected)], lambda i: f"parameter {i}",
                       diagnose=trajectory_diagnosis(expected))
    for key in buffers:
        compare_buffers(observed, expected, key, label)


def paired_runs(observed, expected) -> list:
    runs = expected["runs"]
    return list(zip(listed(item(observed, "runs", "the runs"), len(runs), "the runs"), runs))


def check_runs(*buffers, rtol=None, trajectory=True):
    def compare(observed, expected):
        for obs, exp in paired_runs(observed, expected):
            compare_run(obs, exp, buffers, rtol, trajectory)
    return compare


# ---------------------------------------------------------------------------------------------
# Anchoring the reference side of a comparison of the optimizer with itself

# How far a self-comparison's reference run may step from PyTorch's (relative to its largest
# step) and still count as the optimizer under test. A run that does not move is 1 away, one
# that moves the wrong way 2: half of that is the loosest bound that still asks for PyTorch's
# steps. Measured on the catalogue, correct variants are within 3e-15; of the one-bug update
# rules, eps's place, float32 state, the decays in another place, t per parameter, nesterov
# ignored are within 0.5 of PyTorch (from 2e-6 to 0.49); lr hard-coded, the velocity anew, an
# EMA velocity, betas swapped, t stuck, a bias correction missing are 0.5 to 341 away and pass as
# stored known mistakes (within 1e-14 of one). A held-out one-bug variant passes if its steps
# stay within 0.5 of PyTorch's, or fails naming the update-rule test it needs.
ANCHOR_RTOL = 0.5
RULE_TESTS = {"SGD": "sgd_update", "Momentum": "momentum_velocity",
              "Adam": "adam_moments and adam_bias_correction", "AdamW": "adamw"}


def rule_needed(optimizer: str, hyper: dict) -> str:
    rule = "Momentum" if optimizer == "SGD" and hyper.get("momentum") else optimizer
    return (f"{optimizer}.step() to move as torch.optim's does, or as a known variant of it: "
            f"see {RULE_TESTS[rule]}")


def anchored(observed, trajectory: list, run: dict, label: str) -> list:
    """`observed`, the reference side of a self-comparison, checked against PyTorch's
    `trajectory` and the stored known mistakes of `run` over the same steps."""
    start, rows = run.get("first_step", 0), len(trajectory[0])
    mistakes = [[t[start:start + rows] for t in m["trajectory"]] for m in run.get("mistakes", [])]
    return compare_anchored(observed, [trajectory, *mistakes], label, ANCHOR_RTOL,
                            rule_needed(run["optimizer"], run["hyper"]), "torch.optim", start)


def anchored_run(observed, expected_run: dict, label: str) -> list:
    """A recorded run's trajectory, anchored as the reference of a self-comparison."""
    return anchored(item(observed, "trajectory", "the trajectory"), expected_run["trajectory"],
                    expected_run, label)


# ---------------------------------------------------------------------------------------------
# The checks that are more than trajectories


def parameter(i: int) -> str:
    return f"parameter {i}"


def compare_step_counter(observed, expected):
    label = "Adam(lr=0.01) over three parameters"
    together_run = listed(item(observed, "together", "the trajectory"), len(expected["alone"]),
                          "the trajectory")
    alone = listed(item(observed, "alone", "the runs of each parameter alone"), len(expected["alone"]),
                   "the runs of each parameter alone")
    moved(together_run, label, "Adam.step()")
    for i, (both, single, exp) in enumerate(zip(together_run, alone, expected["alone"])):
        single = anchored_run(single, exp, f"Adam(lr=0.01) over parameter {i} alone")[0]
        compare_identical([both], [single], 1, label, 0,
                          f"parameter {i} does not move as it does in an Adam of its own, given the "
                          "same gradients: t counts the steps of each parameter (state[i]['step']), "
                          "once per step() that gives it a gradient, not once per parameter updated.")
    count = item(observed, "step_count", "optimizer.step_count")
    if not same_value(count, expected["step_count"]):
        raise Mismatch(f"after {expected['step_count']} calls of step(), optimizer.step_count is "
                       f"{describe(count)}: it counts step() calls, once per step.")


SPELLED_OUT = {name: ", ".join(f"{k}={v!r}" for k, v in hyper.items())
               for name, hyper in scenarios.DEFAULTS.items()}


def compare_defaults(observed, expected):
    for name, exp in expected.items():
        obs = item(observed, name, f"the {name} runs")
        implicit = item(obs, "implicit", f"{name}(params)'s trajectory")
        explicit = item(item(obs, "explicit", f"{name}({SPELLED_OUT[name]})'s run"), "trajectory",
                        f"{name}({SPELLED_OUT[name]})'s trajectory")
        count = len(exp["explicit"]["trajectory"])
        moved(listed(explicit, count, "a trajectory"), f"{name}({SPELLED_OUT[name]})", f"{name}.step()")
        anchored(explicit, exp["explicit"]["trajectory"], exp["explicit"], f"{name}({SPELLED_OUT[name]})")
        compare_identical(implicit, explicit, count, f"{name}(params)", 0,
                          f"it does not step like {name}(params, {SPELLED_OUT[name]}), the spec's "
                          f"defaults written out: {differing_default(obs, name)}")


def differing_default(observed: dict, name: str) -> str:
    """Which default differs from the spec's, as far as the optimizer's lr and state_dict say."""
    spec = scenarios.DEFAULTS[name]
    lr, group = (observed.get(key) for key in ("lr", "group")) if isinstance(observed, dict) else (None, None)
    if not same_value(lr, spec["lr"]):
        return f"{name}(params).lr is {describe(lr)}, the spec's default {spec['lr']!r}."
    for key, want in spec.items():
        if isinstance(group, dict) and key in group and not same_value(group[key], list(want) if isinstance(want, tuple) else want):
            return f"its {key} is {describe(group[key])}, the spec's default {want!r}."
    return "one of its default values differs from the spec's."


def compare_dtype(observed, expected):
    for obs, exp in paired_runs(observed, expected):
        label = f"{exp['optimizer']}({', '.join(f'{k}={v!r}' for k, v in exp['hyper'].items())})"
        compare_float32_dtypes(obs, exp, label)
        narrow = listed(item(obs, "float32", "the float32 trajectory"), len(exp["float32"]), "a trajectory")
        wide_run = item(obs, "float64", "the float64 run")
        moved(listed(item(wide_run, "trajectory", "the float64 trajectory"), len(exp["float32"]),
                     "a trajectory"), label, f"{exp['optimizer']}.step()")
        wide = anchored_run(wide_run, exp["float64"], f"{label} in float64")
        compare_series(narrow, wide, f"{label} in float32, against the same run in float64",
                       RTOL["float32"], parameter, moves=False, equal_nan=True)


def compare_float32_dtypes(observed: dict, expected: dict, label: str) -> None:
    dtypes = item(observed, "dtypes", "the dtypes")
    for i, names in enumerate(expected["dtypes"]):
        got = listed(item(dtypes, i, f"parameter {i}'s dtypes"), len(names), f"parameter {i}'s dtypes")
        for k, name in enumerate(got):
            if same_value(name, "float32"):
                continue
            cause = ("At that step the learning rate became a numpy float64 (as a schedule "
                     "computed with np.cos makes it), and numpy computes lr * g in float64 then. "
                     if k == 4 else wide_buffers(observed, i, k))
            raise Mismatch(
                f"{label}: parameter {i} was float32 and is {describe(name)} {when(k)}. {cause}An "
                "update keeps the parameter's dtype: update p.data in place (p.data -= ...), "
                "or cast the result back with .astype(p.data.dtype).")


def wide_buffers(observed: dict, i: int, k: int) -> str:
    """Which of parameter i's buffers were float64 after step k, if the scenario saw any."""
    try:
        wide = sorted(key for key, name in observed["state_dtypes"][k - 1][i].items() if name == "float64")
    except (KeyError, IndexError, TypeError, AttributeError):
        return ""
    if not wide:
        return ""
    names = ", ".join(map(repr, wide))
    return (f"Its {'buffer' if len(wide) == 1 else 'buffers'} {names} {'is' if len(wide) == 1 else 'are'} "
            "float64: np.zeros(shape) makes float64; np.zeros_like(p.data) keeps the parameter's dtype. ")


def compare_training_loop(observed, expected):
    for obs, exp in paired_runs(observed, expected):
        label = f"{exp['optimizer']}({', '.join(f'{k}={v!r}' for k, v in exp['hyper'].items())})"
        generator, given_list = (item(obs, key, f"the run from a {key}") for key in ("generator", "list"))
        trajectory = item(given_list, "trajectory", "the trajectory")
        moved(listed(trajectory, 2, "a trajectory"), f"{label} over a list",
              f"{exp['optimizer']}.step()")
        anchored(trajectory, exp["list"]["trajectory"], exp["list"]["reference"], f"{label} over a list")
        compare_identical(
            item(generator, "trajectory", "the trajectory"), trajectory, 2,
            f"{label} built from a generator", 0,
            "it does not train as the same optimizer built from a list: does the optimizer keep "
            "its parameters in a list? A generator, like model.parameters(), can be gone through "
            "only once.")
        grads = listed(item(generator, "grads_after", "the grads"), 2, "the grads")
        for i, got in enumerate(grads):
            if got is not None:
                zeros = isinstance(got, np.ndarray) and got.dtype.kind in "biuf" and not got.any()
                raise Mismatch(
                    f"{label}: after the last zero_grad(), parameter {i}'s p.grad is "
                    f"{describe(got)}, expected None. " + (
                        "zero_grad() sets every p.grad to None, not to zeros." if zeros else
                        "zero_grad() sets every p.grad to None (graded in 'zero_grad sets every "
                        "grad to None')."))


def compare_grad_none(observed, expected):
    for obs, exp in paired_runs(observed, expected):
        label = run_label(exp)
        compare_dtypes(obs, exp, label)
        trajectory = listed(item(obs, "trajectory", "the trajectory"), 3, "the trajectory")
        alone = listed(item(obs, "alone", "the runs without the skipped parameters"), 2,
                       "the runs without the skipped parameters")
        alone = [item(a, "trajectory", "a trajectory") for a in alone]
        moved(listed(alone[0], 1, "a trajectory"), f"{exp['optimizer']} over parameter 0 alone",
              f"{exp['optimizer']}.step()")
        alone = [anchored(a, e["trajectory"], e, f"{exp['optimizer']} over parameter {i} alone")[0]
                 for a, e, i in zip(alone, exp["alone"], (0, 2))]
        values = [array(t, e.shape, f"the values of parameter {i}")
                  for i, (t, e) in enumerate(zip(trajectory, exp["trajectory"]))]
        for i, rows in [(1, values[1]), (2, values[2][3:])]:
            if not np.array_equal(rows, np.broadcast_to(rows[0], rows.shape), equal_nan=True):
                k = int(np.argmax(np.any((rows != rows[0]).reshape(len(rows), -1), axis=1)))
                first = 0 if i == 1 else 3
                raise Mismatch(
                    f"{label}: parameter {i}'s grad is None from step {first + 1} on, yet it "
                    f"changed {when(first + k)}. A parameter whose grad is None is skipped: "
                    "neither it nor its state changes (not updated as if its gradient were zero).")
        for i, rows, stop in [(0, trajectory[0], None), (2, trajectory[2], 4)]:
            single = alone[0 if i == 0 else 1]
            compare_identical([rows[:stop] if isinstance(rows, np.ndarray) else rows], [single], 1,
                              label, 0, f"parameter {i} does not move as it does in the same "
                              "optimizer without the skipped parameters, given the same gradients: "
                              "skipping a parameter must not change how the others are updated.")
        compare_skipped_state(obs, exp)


def compare_skipped_state(observed: dict, expected: dict) -> None:
    """Where a parameter had no gradient at step k, its state after k is its state before k
    (no state at all and an empty dict count as the same)."""
    has_grad = expected["inputs"]["has_grad"]
    states = listed(item(observed, "state", "the recorded state"), len(has_grad[0]) + 1,
                    "the recorded state")
    for k in range(1, len(states)):
        for i, has in enumerate(has_grad):
            if has[k - 1]:
                continue
            before, after = ({} if entry is None else entry
                             for entry in (item(states[j], i, f"optimizer.state[{i}]") for j in (k - 1, k)))
            keys = first_difference(before, after)
            if keys is not None:
                raise Mismatch(
                    f"{run_label(expected)}: parameter {i}'s grad was None at step {k}, yet "
                    f"optimizer.state[{i}]{path_text(keys)} changed in that step. A parameter "
                    "whose grad is None is skipped: neither it nor its state changes.")


def compare_zero_grad(observed, expected):
    for name, exp in expected.items():
        obs = item(observed, name, f"the {name} results")
        grads = listed(item(obs, "grads", "the grads"), len(exp["grads"]), "the grads")
        for i, grad in enumerate(grads):
            if grad is not None:
                raise Mismatch(f"after {name}.zero_grad(), parameter {i}'s grad is {describe(grad)}, "
                               "expected None. zero_grad sets every p.grad to None (not to zeros), "
                               "so that a parameter that gets no new gradient is skipped.")
        after = listed(item(obs, "after_step", "the values after step()"), len(exp["init"]),
                       "the values after step()")
        after = [array(b, a.shape, f"parameter {i} after step()")
                 for i, (a, b) in enumerate(zip(exp["init"], after))]
        compare_series([np.stack([a, b]) for a, b in zip(exp["init"], after)],
                       [np.stack([a, b]) for a, b in zip(exp["init"], exp["after_step"])],
                       f"{name}.step() with every grad None (after zero_grad())", RTOL["float64"],
                       parameter)


def compare_validation(observed, expected):
    cases = item(observed, "cases", "the validation results")
    wrong = []
    for case, want in expected["cases"].items():
        got = item(cases, case, f"the result of {case}")
        if not same_value(got, want):
            wrong.append(f"{case} should raise {want}, but raised {'nothing' if got is None else describe(got)}"
                         if want else f"{case} is valid (the edge of the allowed range), but raised "
                         f"{describe(got)}")
    if wrong:
        more = f" (and {len(wrong) - 3} more)" if len(wrong) > 3 else ""
        raise Mismatch("; ".join(wrong[:3]) + more + ".")


BUFFERS = {"SGD": ("momentum_buffer",), "Adam": ("exp_avg", "exp_avg_sq")}


def check_state_entries(state_dict, expected: dict, name: str) -> None:
    """state_dict['state'][i] holds the spec's buffers, shaped like parameter i."""
    state = item(state_dict, "state", f"{name}.state_dict()['state']")
    for i, buffers in expected["state"].items():
        entry = item(state, int(i), f"{name}.state_dict()['state'][{i}]")
        for key in BUFFERS[name]:
            where = f"{name}.state_dict()['state'][{i}][{key!r}]"
            array(item(entry, key, where), buffers[key].shape, where)


def saved_buffers(state_dict, expected: dict, name: str) -> int:
    """How many buffers a state_dict taken after 3 steps holds, each checked to be shaped like
    its parameter and recognisably the optimizer's: within ANCHOR_RTOL of PyTorch's buffer, or
    of a stored known mistake's."""
    for key in expected["at_save"]:
        item(state_dict, key, f"{name}.state_dict()[{key!r}] (the layout is {LAYOUT})")
    state, run, count = state_dict["state"], expected["reference"], 0
    for i, buffers in expected["at_save"]["state"].items():
        entry = next((v for k, v in state.items() if str(k) == str(i)), None) if isinstance(state, dict) else None
        for key in BUFFERS[name]:
            if not isinstance(entry, dict) or key not in entry:
                continue
            where = f"{name}.state_dict()['state'][{i}][{key!r}]"
            got = array(entry[key], buffers[key].shape, where)
            simulated = [m["buffers"][key][int(i)][2] for m in run.get("mistakes", [])
                         if m["buffers"].get(key) and m["buffers"][key][int(i)] is not None]
            if not any(distance(got, want) <= ANCHOR_RTOL for want in [buffers[key], *simulated]):
                raise Mismatch(
                    f"{where} after 3 steps is far from torch.optim's (the largest difference "
                    f"{np.nan_to_num(np.abs(got - buffers[key]), nan=np.inf).max():.4g}). This "
                    f"test compares the dict with itself, so it needs {rule_needed(name, run['hyper'])}.")
            count += 1
    return count


def compare_state_dict_copies(observed, expected):
    held = 0
    for name, exp in expected.items():
        obs = item(observed, name, f"the {name} results")
        at_save, later = item(obs, "at_save", "the saved dict"), item(obs, "later", "the dict later")
        held += saved_buffers(at_save, exp, name)
        keys = first_difference(at_save, later)
        if keys is not None:
            raise Mismatch(
                f"{name}: a state_dict() taken after 3 steps changed when the optimizer took 3 more "
                f"(state_dict(){path_text(keys)}). state_dict() must return copies of the buffers "
                "(buf.copy()), not the optimizer's live arrays, or a checkpoint changes after it is "
                "taken.")
    if not held:
        raise Mismatch(f"no state_dict() taken after 3 steps holds a buffer ({', '.join(map(repr, BUFFERS['SGD'] + BUFFERS['Adam']))}), "
                       "so nothing here can be compared. This test needs the update to keep its "
                       "buffers in optimizer.state, where state_dict() finds them: see state_dict_layout.")


LAYOUT = "{'state': {0: {...}, ...}, 'param_groups': [{'lr': ..., ..., 'params': [0, 1]}], 'step_count': N}"


def compare_state_dict_layout(observed, expected):
    for name, exp_all in expected.items():
        exp = exp_all["state_dict"]
        obs = item(observed, name, f"the {name} results")
        sd = item(obs, "state_dict", f"{name}.state_dict()")
        for key in exp:
            item(sd, key, f"{name}.state_dict()[{key!r}] (the layout is {LAYOUT})")
        group = item(listed(sd["param_groups"], 1, f"{name}.state_dict()['param_groups']"), 0, "")
        for key, want in exp["param_groups"][0].items():
            where = f"{name}.state_dict()['param_groups'][0][{key!r}]"
            got = item(group, key, f"{where} (a param group holds lr, every hyper-parameter and params)")
            if not same_value(got, want):
                raise Mismatch(f"{where} is {describe(got)}, expected {want!r}.")
        count = item(obs, "step_count", f"{name}.step_count")
        if not isinstance(sd["step_count"], int) or not same_value(sd["step_count"], count):
            raise Mismatch(f"{name}.state_dict()['step_count'] is {describe(sd['step_count'])} where "
                           f"{name}.step_count is {describe(count)}: the dict holds the optimizer's "
                           "step count, an int.")
        check_state_entries(sd, exp, name)


def compare_load_restores(observed, expected):
    for name, exp in expected.items():
        obs = item(observed, name, f"the {name} results")
        saved = {"lr": exp["lr"], "step_count": item(obs, "saved_step_count", "the saved step_count")}
        for key, want in saved.items():
            got = item(obs, key, key)
            if not same_value(got, want):
                raise Mismatch(f"{name}: after load_state_dict, optimizer.{key} is {describe(got)}, "
                               f"expected {describe(want)} (the saved optimizer's).")
        saved = resumed_reference(obs, exp, name)
        compare_identical(
            saved, item(obs, "resumed", "the resumed one's"),
            len(exp["saved"]), name, 4, "the optimizer that loaded the state_dict and the original, "
            f"given the same gradients, take different steps.{unrestored_hyper(obs, exp)}"
            f"{unsaved_buffer(obs, name)} load_state_dict restores every buffer, each parameter's "
            "step, lr, the hyper-parameters and step_count.")


def resumed_reference(observed: dict, expected: dict, name: str) -> list:
    """The original's trajectory after the state_dict was taken: it moves, as the optimizer does."""
    saved = listed(item(observed, "saved", "the original's trajectory"), len(expected["saved"]),
                   "a trajectory")
    moved(saved, name, f"{name}.step()")
    return anchored(saved, expected["saved"], expected["reference"], f"{name}, the original")


def unrestored_hyper(observed: dict, expected: dict) -> str:
    try:
        group = observed["state_dict"]["param_groups"][0]
        for key, want in expected["state_dict"]["param_groups"][0].items():
            if key in group and not same_value(group[key], want):
                return f" Its {key} is {describe(group[key])}, the saved one's {want!r}."
    except (KeyError, IndexError, TypeError, AttributeError):
        pass
    return ""


def unsaved_buffer(observed: dict, name: str) -> str:
    """A buffer of the spec that the state_dict does not hold, as a sentence (or "")."""
    try:
        state = observed["state_dict"]["state"]
        for i, entry in state.items():
            missing = [key for key in BUFFERS[name] if key not in entry]
            if missing:
                return (f" Its state_dict()['state'][{i}] holds no {missing[0]!r}: the update keeps "
                        "it outside optimizer.state, where state_dict() does not see it.")
    except (KeyError, TypeError, AttributeError):
        pass
    return ""


def compare_load_copies(observed, expected):
    for name, exp in expected.items():
        obs = item(observed, name, f"the {name} results")
        first = listed(item(obs, "first", "the first copy"), len(exp["first"]), "a trajectory")
        moved(first, name, f"{name}.step()")
        first = anchored(first, exp["first"], exp["reference"], f"{name}, the first copy")
        compare_identical(
            first, item(obs, "second", "the second copy"),
            len(exp["first"]), name, 0, "two optimizers loaded from the same state_dict and given "
            "the same gradients take different steps: they share arrays with the dict (or with the "
            "original). load_state_dict must copy the arrays in.")


def compare_load_rejects(observed, expected):
    errors = item(observed, "errors", "the errors")
    for case, want in expected["errors"].items():
        got = item(errors, case, f"the result of loading {case}")
        if not same_value(got, want):
            raise Mismatch(f"loading a state_dict with {case} raised "
                           f"{'nothing' if got is None else describe(got)}; expected {want}, naming what "
                           "does not fit.")
    before = {"lr": expected["lr"], "step_count": item(observed, "step_count_before", "the step count")}
    for key, want in before.items():
        got = item(observed, key, key)
        if not same_value(got, want):
            raise Mismatch(f"after the rejected loads, optimizer.{key} is {describe(got)}, expected "
                           f"{describe(want)} (its value before): a dict that does not fit must "
                           "change nothing.")
    if isinstance(observed, dict) and "after_error" in observed:
        raise Mismatch(f"stepping after the rejected loads raised {str(observed['after_error'])[:200]}: "
                       "a dict that does not fit must change nothing.")
    control = anchored(item(observed, "control", "the untouched twin"), expected["control"],
                       expected["reference"], "Adam(lr=0.01), the untouched twin")
    compare_identical(
        control, item(observed, "after", "the steps"),
        len(expected["control"]), "Adam", 3, "after the rejected loads the optimizer no longer "
        "steps like an untouched twin: load_state_dict changed something before raising. Check "
        "the whole dict first, then change the optimizer.")


def compare_checkpoint_disk(observed, expected):
    for name, exp in expected.items():
        obs = item(observed, name, f"the {name} results")
        if isinstance(obs, dict) and "unsaveable" in obs:
            raise Mismatch(f"{name}: the state_dict could not be saved without pickle: "
                           f"{str(obs['unsaveable'])[:300]}.")
        saved = resumed_reference(obs, exp, name)
        compare_identical(
            saved, item(obs, "resumed", "the resumed one's"),
            len(exp["saved"]), name, 4, "training resumed from a checkpoint on disk does not take "
            "the same steps as the original: something the update uses is not in the state_dict, "
            f"or load_state_dict does not restore it.{unrestored_hyper(obs, exp)}"
            f"{unsaved_buffer(obs, name)}")


def compare_momentum_state(observed, expected):
    got = item(observed, "has_momentum", "has_momentum()")
    if not same_value(got, expected["has_momentum"]):
        raise Mismatch(f"has_momentum() of SGD with momentum 0.9 and of SGD without is "
                       f"{describe(got)}, expected {expected['has_momentum']}.")
    for key, taken in [("without_momentum", "of SGD without momentum"),
                       ("before_any_step", "before any step"),
                       ("after_clear", "after set_momentum_state(None)")]:
        got = item(observed, key, f"get_momentum_state() {taken}")
        if first_difference(got, expected[key]) is not None:
            raise Mismatch(f"get_momentum_state() {taken} is {describe(got)}, expected "
                           f"{expected[key]!r} (None where a parameter has no velocity yet).")
    for key, taken in [("after_first_step", "after the first step, where parameter 1 had no grad"),
                       ("saved", "after two steps")]:
        buffers = listed(item(observed, key, key), len(expected[key]), f"get_momentum_state() {taken}")
        states = listed(item(observed, f"state_{key}", "the state"), len(expected[key]), "the state")
        for i, (got, state) in enumerate(zip(buffers, states)):
            compare_momentum_entry(got, state, i, taken)
        if buffers[0] is None:
            raise Mismatch(f"get_momentum_state() {taken}: the entry of parameter 0, which had a "
                           "gradient, is None: after a parameter's first step its velocity is "
                           "buf = g. Are the velocities kept outside optimizer.state[i]"
                           "['momentum_buffer'], where get_momentum_state reads them?")
    continued, twin = item(observed, "continued", "continued"), item(observed, "twin", "twin")
    moved(listed(continued, len(expected["twin"]), "a trajectory"), "SGD(lr=0.1, momentum=0.9)",
          "SGD.step()")
    continued = anchored(continued, expected["continued"], expected["reference"],
                         "SGD(lr=0.1, momentum=0.9)")
    compare_identical(continued, twin, len(expected["twin"]), "SGD(lr=0.1, momentum=0.9)", 2,
                      "the optimizer and a twin given its buffers by set_momentum_state take "
                      f"different steps. {momentum_state_culprit(continued, twin, observed, expected)}")
    fresh = anchored(item(observed, "fresh_steps", "the steps of a new optimizer"),
                     expected["fresh_steps"], expected["fresh_reference"], "a new SGD(lr=0.1, momentum=0.9)")
    compare_identical(item(observed, "after_clear_steps", "the steps after clearing"), fresh,
                      len(expected["fresh_steps"]), "after set_momentum_state(None)", 4,
                      "the optimizer does not step like a new one from the same values: "
                      "set_momentum_state(None) clears every velocity, so the next step starts "
                      "it again as buf = g.")


def compare_momentum_entry(got, state, i: int, taken: str) -> None:
    """Entry i of get_momentum_state() is a copy of optimizer.state[i]['momentum_buffer']."""
    live = state.get("momentum_buffer") if isinstance(state, dict) else None
    if got is None and live is None:
        return
    where = f"get_momentum_state() {taken}: the entry of parameter {i}"
    if live is None or got is None or not isinstance(live, np.ndarray):
        raise Mismatch(f"{where} is {describe(got)}, but optimizer.state[{i}]['momentum_buffer'] "
                       f"is {describe(live)}. get_momentum_state returns a copy of each "
                       "parameter's velocity, None where it has none yet.")
    got = array(got, live.shape, where)
    differs = ~((got == live) | (np.isnan(got) & np.isnan(live)))
    if differs.any():
        j = np.unravel_index(int(np.argmax(differs)), differs.shape)
        raise Mismatch(f"{where} is not optimizer.state[{i}]['momentum_buffer']: at "
                       f"{index_text(j)} {values_apart(float(got[j]), float(live[j]))}. "
                       "get_momentum_state returns a copy of each parameter's velocity.")


def momentum_state_culprit(continued: list, twin: list, observed: dict, expected: dict) -> str:
    def matches(trajectory, reference):
        return (isinstance(trajectory, list) and len(trajectory) == len(reference)
                and all(isinstance(t, np.ndarray) and t.dtype.kind in "biuf" and t.shape == r.shape
                        and not differing(t.astype(np.float64), r, RTOL["float64"]).any()
                        for t, r in zip(trajectory, reference)))

    saved = observed.get("saved")
    if isinstance(saved, list) and saved and all(entry is None for entry in saved):
        return ("After two steps get_momentum_state() holds no velocity at all, yet the optimizer "
                "steps with one: the velocities are kept outside optimizer.state[i]"
                "['momentum_buffer'], where get_momentum_state reads them.")
    if matches(continued, expected["continued"]):
        return "set_momentum_state must copy the buffers in, one per parameter."
    if matches(twin, expected["twin"]):
        return ("Changing the arrays get_momentum_state() returned changed the optimizer: it must "
                "return copies.")
    return ("get_momentum_state returns copies of the velocities in optimizer.state; "
            "set_momentum_state copies them in.")


def resume_hint(resumed: list, original: list) -> str:
    if all(same_value(lr, resumed[0]) for lr in resumed) and not all(
            same_value(lr, original[0]) for lr in original):
        return ("The resumed optimizer's lr never changes: the loaded scheduler drives another "
                "optimizer. A scheduler's state_dict leaves out its optimizer.")
    return ("scheduler.load_state_dict restores the epoch count and what the next lr is computed "
            "from (the initial lr, base_lr, included).")


def schedule_label(schedule: dict) -> str:
    settings = ", ".join(f"{k}={v!r}" for k, v in schedule["settings"].items())
    return f"{schedule['scheduler']}({settings})"


def compare_schedules(observed, expected):
    schedules = listed(item(observed, "schedules", "the schedules"), len(expected["schedules"]),
                       "the schedules")
    for obs, exp in zip(schedules, expected["schedules"]):
        label = schedule_label(exp)
        used = listed(item(obs, "lr_used", "the lrs"), len(exp["lr_used"]), "the lrs")
        for epoch, (got, want) in enumerate(zip(used, exp["lr_used"])):
            if not same_value(got, want):
                raise Mismatch(f"{label}, epoch {epoch}: optimizer.lr is {describe(got)}, "
                               f"expected {want!r}.{schedule_hint(exp, epoch, got)}")
        last = listed(item(obs, "last_lr", "get_last_lr()"), len(exp["last_lr"]), "get_last_lr()")
        for epoch, (got, want) in enumerate(zip(last, exp["last_lr"])):
            if not same_value(got, want):
                raise Mismatch(f"{label}: get_last_lr() after {epoch} scheduler steps is "
                               f"{describe(got)}, expected {want!r}.")
        compare_identical([item(obs, "trajectory", "the trajectory")],
                          [item(obs, "lr_set_directly", "the trajectory with lr set directly")], 1,
                          f"{label} driving SGD", 0, "SGD does not step as it does when its lr is "
                          "set to the same values directly: the scheduler sets optimizer.lr, the "
                          "value step() uses.")


def schedule_hint(expected: dict, epoch: int, got) -> str:
    """The likely mistake behind a wrong learning rate at `epoch`, from the expected schedule."""
    lrs, settings = expected["lr_used"], expected["settings"]
    candidates = {"the schedule runs one epoch late: scheduler.step() counts the epoch after "
                  "computing the lr, or starts at -1 twice": lrs[epoch - 1] if epoch else None,
                  "the schedule runs one epoch early: the lr changes at epoch step_size - 1":
                      lrs[epoch + 1] if epoch + 1 < len(lrs) else None}
    if expected["scheduler"] == "CosineAnnealingLR":
        base, t_max, eta_min = lrs[0], settings["T_max"], settings.get("eta_min", 0.0)
        candidates |= {
            "eta_min is left out: the lr goes from lr down to eta_min, "
            "eta_min + (lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2": cosine(base, 0.0, t_max, epoch),
            "the period is T_max + 1 epochs, not T_max": cosine(base, eta_min, t_max + 1, epoch)}
    for hint, lr in candidates.items():
        if lr is not None and same_value(got, lr):
            return f" That is what happens when {hint}."
    return ""


def cosine(base: float, eta_min: float, t_max: int, epoch: int) -> float:
    return eta_min + (base - eta_min) * (1 + np.cos(np.pi * epoch / t_max)) / 2


def check_schedule_anchor(original: list, expected: dict) -> None:
    """The original schedule of a round trip is recognisably the scheduler under test: each
    epoch's lr within PyTorch's largest one of PyTorch's, never rising where PyTorch's does not,
    and falling if PyTorch's does (a schedule off by an epoch, with another period or without
    its floor passes)."""
    wanted = expected["original"]
    problem = None
    for epoch, (got, want) in enumerate(zip(original, wanted), start=4):
        if not (isinstance(got, (int, float)) and not isinstance(got, bool)
                and abs(got - want) <= max(wanted)):
            problem = f"the original schedule's lr at epoch {epoch} is {describe(got)}, where torch.optim's is {want!r}"
            break
    else:
        steps = np.diff(np.array(original, dtype=np.float64))
        if (steps > 0).any() and not (np.diff(wanted) > 0).any():
            problem = f"the original schedule rises ({original!r}) where torch.optim's falls ({wanted!r})"
        elif not (steps < 0).any() and (np.diff(wanted) < 0).any():
            problem = f"the original schedule stays at {original[0]!r} where torch.optim's falls ({wanted!r})"
    if problem:
        raise Mismatch(f"{schedule_label(expected)}: {problem}. This test compares the scheduler "
                       f"with itself, so it needs {expected['scheduler']} to schedule as "
                       f"torch.optim's does, or nearly: see {SCHEDULE_TESTS[expected['scheduler']]}.")


SCHEDULE_TESTS = {"StepLR": "step_lr", "CosineAnnealingLR": "cosine_lr"}


def compare_scheduler_state(observed, expected):
    schedules = listed(item(observed, "schedules", "the schedules"), len(expected["schedules"]),
                       "the schedules")
    for obs, exp in zip(schedules, expected["schedules"]):
        original = listed(item(obs, "original", "the original lrs"), len(exp["original"]), "the lrs")
        check_schedule_anchor(original, exp)
        resumed = listed(item(obs, "resumed", "the resumed lrs"), len(exp["resumed"]), "the lrs")
        for epoch, (got, want) in enumerate(zip(resumed, original), start=4):
            if not same_value(got, want):
                raise Mismatch(
                    f"{schedule_label(exp)}: after loading the scheduler's state_dict at epoch 3, "
                    f"over an optimizer given the original's lr, epoch {epoch}'s lr is "
                    f"{describe(got)} where the original's is {describe(want)}. "
                    f"{resume_hint(resumed, original)}")


# Tolerances of the update rules' comparisons with PyTorch, per concept (see the top of this file)
ADAM_STEP = 1e-4  # Adam's steps on gradients of 1e-2 and more, where eps's place stays below 1e-5
ADAM_EPS = 1e-6  # gradients near eps, where its place changes the values by 1e-2

TESTS = [
    graded("sgd_update", "SGD: p = p - lr * grad", 4, check_runs()),
    graded("sgd_weight_decay", "SGD weight decay: weight_decay * p added to the gradient", 3,
           check_runs()),
    graded("momentum_velocity", "Momentum: a velocity (buf = g at the first step) kept between steps",
           5, check_runs("momentum_buffer")),
    graded("momentum_dampening", "Momentum dampening: (1 - dampening) * g, from the second step on",
           2, check_runs()),
    graded("momentum_lr_change", "Momentum when the learning rate changes: lr stays out of the velocity",
           3, check_runs()),
    graded("nesterov", "Nesterov momentum: a step along g + momentum * buf", 3, check_runs()),
    graded("adam_moments", "Adam's moments: m and v, running averages of g and g * g", 5,
           check_runs("exp_avg", "exp_avg_sq", trajectory=False)),
    graded("adam_bias_correction", "Adam's bias correction, at steps 1, 2 and 10", 6,
           check_runs(rtol=ADAM_STEP)),
    graded("adam_long_run", "Adam over 1000 steps, where v's bias correction still matters", 3,
           check_runs(rtol=ADAM_STEP)),
    graded("adam_eps", "Adam's eps, added outside the square root", 3, check_runs(rtol=ADAM_EPS)),
    graded("adam_weight_decay", "Adam's weight_decay: L2, added to the gradient", 3,
           check_runs(rtol=ADAM_STEP)),
    graded("adamw", "AdamW: decoupled weight decay, p *= 1 - lr * weight_decay, then Adam", 4,
           check_runs(rtol=ADAM_STEP)),
    graded("adam_step_counter", "Adam's step count t: once per step, for every parameter", 3,
           compare_step_counter),
    graded("defaults", "Default hyper-parameters (SGD lr 0.01, Momentum 0.9, Adam lr 0.001, "
           "AdamW weight_decay 0.01)", 2, compare_defaults),
    graded("dtype", "float32 parameters stay float32", 4, compare_dtype),
    graded("training_loop", "A training loop: parameters from a generator, a new gradient each step",
           2, compare_training_loop),
    graded("grad_none", "A parameter whose grad is None is skipped, state and all", 5,
           compare_grad_none),
    graded("zero_grad", "zero_grad sets every grad to None", 2, compare_zero_grad),
    graded("validation", "Invalid hyper-parameters raise ValueError, a non-parameter TypeError", 3,
           compare_validation),
    graded("state_dict_copies", "state_dict returns copies", 3, compare_state_dict_copies),
    graded("state_dict_layout", "state_dict's layout: state, param_groups, step_count", 3,
           compare_state_dict_layout),
    graded("load_state_dict_restores", "load_state_dict restores buffers, steps, lr, "
           "hyper-parameters and step_count", 5, compare_load_restores),
    graded("load_state_dict_copies", "load_state_dict copies the arrays in", 3, compare_load_copies),
    graded("load_state_dict_rejects", "load_state_dict rejects a dict that does not fit, changing "
           "nothing", 4, compare_load_rejects),
    graded("checkpoint_disk",
           "A checkpoint through disk (one .npz file, no pickle) resumes bit-identically", 4,
           compare_checkpoint_disk),
    graded("momentum_state", "get_momentum_state and set_momentum_state", 3, compare_momentum_state),
    graded("step_lr", "StepLR: lr times gamma every step_size epochs", 4, compare_schedules),
    graded("cosine_lr", "CosineAnnealingLR: from lr down to eta_min over T_max epochs", 4,
           compare_schedules),
    graded("scheduler_state", "A scheduler's state_dict round trip", 2, compare_scheduler_state),
]
