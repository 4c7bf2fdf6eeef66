"""The autograder's material for module 06 besides its tests: the mutant catalogue still applies to
the reference solution, and every implementation in correct/ agrees with torch.optim."""
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch

from tito.exporter import load_exported
from tito.grading.files import load_file
from tito.grading.judge import SubmissionResult
from tito.grading.judge import TestOutcome as Outcome
from tito.grading.validate import MAX_LOSS, Candidate, problems

pytestmark = pytest.mark.optim

ROOT = Path(__file__).resolve().parents[1]
AUTOGRADER = ROOT / "autograder" / "06_optimizers"
SOLUTION = ROOT / "solutions" / "06_optimizers" / "optimizers.py"
CATALOGUE = AUTOGRADER / "mutants" / "catalogue.toml"
ENTRIES = tomllib.loads(CATALOGUE.read_text(encoding="utf-8"))
MUTANTS, VARIANTS = ENTRIES["mutant"], ENTRIES["correct"]
CORRECT = sorted((AUTOGRADER / "correct").glob("*.py"))


def graded_tests() -> dict:
    """concept -> test name"""
    return {test.concept: test.name for test in load_file(AUTOGRADER / "tests.py").TESTS}


# The catalogue


def test_catalogue_entries_are_complete_and_named_once():
    names = [m["name"] for m in MUTANTS]
    assert len(names) >= 32 and len(set(names)) == len(names)
    concepts = graded_tests()
    for mutant in MUTANTS:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", mutant["name"]), mutant["name"]
        assert mutant["concept"] in concepts, f"{mutant['name']}: {mutant['concept']!r} not graded"
        assert mutant["pitfall"].endswith(".") and mutant["replace"], mutant["name"]
        allowed = mutant.get("allowed", [])
        assert set(allowed) <= set(concepts.values()), f"{mutant['name']}: {allowed} are not all tests"
        assert concepts[mutant["concept"]] not in allowed and len(set(allowed)) == len(allowed)
    assert VARIANTS and all(v["why"].endswith(".") and v["replace"] for v in VARIANTS)
    assert not {v["name"] for v in VARIANTS} & set(names)


@pytest.mark.parametrize("mutant", MUTANTS + VARIANTS, ids=[m["name"] for m in MUTANTS + VARIANTS])
def test_mutant_applies_once_and_still_loads(mutant, tmp_path):
    source = SOLUTION.read_text(encoding="utf-8")
    mutated = source
    for old, new in mutant["replace"]:
        assert source.count(old) == 1, f"{old!r} occurs {source.count(old)} times in the solution"
        assert mutated.count(old) == 1, f"{old!r} was changed by an earlier replacement"
        mutated = mutated.replace(old, new)
    assert mutated != source
    path = tmp_path / "optimizers.py"
    path.write_text(mutated, encoding="utf-8")
    load_exported(path, f"mutant_{mutant['name']}")  # its #| export cells still run


# Judging how a candidate was graded


def result(lost: dict) -> SubmissionResult:
    points = {"sgd_update": 4, "nesterov": 3, "adam_eps": 3, "adamw": 90}
    return SubmissionResult("s", "s.py", [Outcome(name, name, p, 0.0 if name in lost else p, "failed")
                                          for name, p in points.items()])


MUTANT = Candidate("m", Path("m.py"), "mutant", "SGD", ("nesterov",))
TEST_OF = {"SGD": "sgd_update"}


def test_a_mutant_that_loses_its_concept_and_what_it_allows_is_graded_fairly():
    assert problems(MUTANT, result({"sgd_update", "nesterov"}), 93, TEST_OF) == []


@pytest.mark.parametrize("lost, visible, words", [
    (set(), 100, "not caught"),
    ({"nesterov"}, 97, "passes the test of its concept (sgd_update)"),
    ({"sgd_update", "adam_eps"}, 93, "loses tests outside its concept: adam_eps"),
    ({"sgd_update", "adamw"}, 10, f"(at most {MAX_LOSS})"),
    ({"sgd_update"}, 80, "visible 80 against hidden 96"),
])
def test_an_unfair_grade_of_a_mutant_is_named(lost, visible, words):
    assert any(words in problem for problem in problems(MUTANT, result(lost), visible, TEST_OF))


def test_a_correct_variant_must_score_full_marks_hidden_and_visible():
    variant = Candidate("v", Path("v.py"), "correct")
    assert problems(variant, result(set()), 100, TEST_OF) == []
    assert problems(variant, result({"adam_eps"}), 97, TEST_OF) == ["fails adam_eps", "scores 97 on the visible tests"]


# The correct implementations, against torch.optim


class Param:
    def __init__(self, data):
        self.data = np.array(data)
        self.grad = None


RUNS = [  # (our class, torch's class, hyper-parameters)
    ("SGD", "SGD", {"lr": 0.1}),
    ("SGD", "SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.05}),
    ("SGD", "SGD", {"lr": 0.1, "momentum": 0.8, "nesterov": True}),
    ("Momentum", "SGD", {"lr": 0.1, "momentum": 0.9}),
    ("Adam", "Adam", {"lr": 0.05, "betas": (0.8, 0.99), "weight_decay": 0.1}),
    ("AdamW", "AdamW", {"lr": 0.05, "weight_decay": 0.1}),
]
SHAPES = [(3,), (2, 3)]
STEPS = 12


def gradients(seed=0):
    rng = np.random.default_rng(seed)
    return [[rng.normal(size=shape) for shape in SHAPES] for _ in range(STEPS)]


@pytest.fixture(scope="module", params=CORRECT, ids=[p.stem for p in CORRECT])
def implementation(request):
    return load_exported(request.param, f"correct_{request.param.stem}")


def run_id(run) -> str:
    ours, _, hyper = run
    return f"{ours}({', '.join(f'{k}={v}' for k, v in hyper.items())})"


@pytest.mark.parametrize("ours, theirs, hyper", RUNS, ids=[run_id(r) for r in RUNS])
def test_correct_implementation_matches_torch(implementation, ours, theirs, hyper):
    init = [np.random.default_rng(1).normal(size=shape) for shape in SHAPES]
    params = [Param(x.copy()) for x in init]
    tensors = [torch.tensor(x, requires_grad=True) for x in init]
    opt = getattr(implementation, ours)(params, **hyper)
    torch_hyper = {"momentum": 0.9, **hyper} if ours == "Momentum" else hyper
    reference = getattr(torch.optim, theirs)(tensors, **torch_hyper)
    for k, grads in enumerate(gradients()):
        if k == STEPS // 2:  # a schedule changes the learning rate
            opt.lr = reference.param_groups[0]["lr"] = hyper["lr"] / 4
        for p, t, g in zip(params, tensors, grads):
            p.grad, t.grad = g.copy(), torch.tensor(g)
        opt.step()
        reference.step()
    for p, t in zip(params, tensors):
        assert p.data.dtype == np.float64
        np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert opt.step_count == STEPS


@pytest.mark.parametrize("name, settings", [("StepLR", {"step_size": 3, "gamma": 0.5}),
                                            ("CosineAnnealingLR", {"T_max": 10, "eta_min": 0.01})])
def test_correct_scheduler_matches_torch(implementation, name, settings):
    opt = implementation.SGD([Param(np.zeros(2))], lr=0.1)
    reference = torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=0.1)
    ours = getattr(implementation, name)(opt, **settings)
    theirs = getattr(torch.optim.lr_scheduler, name)(reference, **settings)
    for _ in range(10):
        reference.step()
        ours.step()
        theirs.step()
        assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-12)
        assert opt.lr == ours.get_last_lr()[0]


def test_correct_implementation_resumes_from_its_state_dict(implementation):
    grads = gradients(2)
    a_params = [Param(np.ones(shape, dtype=np.float32)) for shape in SHAPES]
    a = implementation.Adam(a_params, lr=0.01)
    for grad in grads[:4]:
        for p, g in zip(a_params, grad):
            p.grad = g.astype(np.float32)
        a.step()
    b_params = [Param(p.data.copy()) for p in a_params]
    b = implementation.Adam(b_params, lr=0.5)
    b.load_state_dict(a.state_dict())
    for grad in grads[4:]:
        for p, q, g in zip(a_params, b_params, grad):
            p.grad, q.grad = g.astype(np.float32), g.astype(np.float32)
        a.step()
        b.step()
    for p, q in zip(a_params, b_params):
        assert p.data.dtype == np.float32 and np.array_equal(p.data, q.data)
    with pytest.raises(ValueError):
        b.load_state_dict({"state": {}, "param_groups": [{"lr": 0.1, "params": [0]}],
                           "step_count": 0})
