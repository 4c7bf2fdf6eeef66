"""Every autograder course.toml registers: its points add up to 100, the solution scores them
all and the untouched stub none, its scenarios (the half that runs beside the student's code)
import only numpy and the standard library, and its catalogue of mutants still applies."""
import ast
import sys
from pathlib import Path

import pytest

from autograder_helpers import over_the_wire
from tinytorch import plaindata
from tito.course import load_course
from tito.exporter import load_exported
from tito.grading import scenario_kit
from tito.grading.files import load_file
from tito.grading.judge import load_autograder
from tito.grading.validate import apply_mutant, load_catalogue

from conftest import ROOT

GRADED = load_course(ROOT).graded_modules


@pytest.fixture(scope="module", params=GRADED, ids=[m.folder for m in GRADED])
def module(request):
    return request.param


def in_process_score(module, path) -> float:
    """The points `path` earns, every scenario run in this process (the grader runs them in workers)."""
    autograder = load_autograder(module)
    scenarios = load_file(autograder.scenarios_path, f"scenarios_of_{path.stem}")
    backend = scenarios.TinyBackend(load_exported(path, f"graded_{module.folder}_{path.stem}"))
    observed = {}
    for name in dict.fromkeys(test.scenario for test in autograder.tests):
        try:
            observed[name] = over_the_wire(scenarios.SCENARIOS[name](backend))
        except Exception:  # what a worker reports as the student's error
            observed[name] = None
    return sum(test.points for test in autograder.tests if observed[test.scenario] is not None
               and test.check(observed[test.scenario], autograder.expected[test.scenario]) is None)


def test_points_add_up_to_100_and_every_test_has_its_scenario(module):
    autograder = load_autograder(module)
    scenarios = load_file(autograder.scenarios_path)
    assert sum(test.points for test in autograder.tests) == 100
    assert len({test.name for test in autograder.tests}) == len(autograder.tests)
    assert all(test.scenario in scenarios.SCENARIOS for test in autograder.tests)
    assert set(autograder.expected) >= {test.scenario for test in autograder.tests}


def test_the_solution_scores_100_and_the_stub_0(module):
    assert in_process_score(module, module.solution) == 100
    assert in_process_score(module, module.source) == 0


def imported(path) -> set:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return ({alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
            | {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)})


def numpy_or_standard(modules: set) -> bool:
    return all(name == "numpy" or name.split(".")[0] in sys.stdlib_module_names for name in modules)


def test_the_scenarios_import_only_numpy_the_standard_library_and_the_kit(module):
    found = imported(load_autograder(module).scenarios_path) - {scenario_kit.__name__}
    assert numpy_or_standard(found), found
    assert numpy_or_standard(imported(Path(scenario_kit.__file__)) - {plaindata.__name__})
    assert numpy_or_standard(imported(Path(plaindata.__file__)))


def test_the_catalogue_applies_to_the_solution(module):
    folder = load_autograder(module).folder
    solution = module.solution.read_text(encoding="utf-8")
    catalogue = load_catalogue(folder)
    for entry in catalogue["mutant"] + catalogue["correct"]:
        assert apply_mutant(solution, entry["replace"], entry["name"]) != solution, entry["name"]


def test_course_toml_registers_the_assignment_s_autograder():
    course = load_course(ROOT)
    assert course.module(course.assignment) in GRADED
    assert all(m.autograder_folder.is_dir() for m in GRADED)
