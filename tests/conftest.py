"""Fixtures shared by the project's tests."""
from pathlib import Path

import pytest

from tito.course import copy_course, load_course
from tito.exporter import load_exported

ROOT = Path(__file__).resolve().parents[1]
MARKERS = {
    "tito": "the course tool: registry, cells, generate, export, test, notebook, status",
    "optim": "the module 06 solution against torch.optim",
    "grading": "the grader: submissions, wire format, workers, sandbox, reports",
    "bench": "the benchmarks' quick modes: they run and report positive figures",
    "tensor": "the Tensor and its autograd (modules 01, 05) against finite differences and torch",
    "nn": "Module, activations, layers and losses (modules 02-04) against torch",
    "slow": "runs a Jupyter kernel or a subprocess-heavy end-to-end flow",
}


def pytest_configure(config):
    for name, meaning in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {meaning}")


@pytest.fixture(scope="session")
def course():
    return load_course(ROOT)


@pytest.fixture
def course_copy(course, tmp_path, monkeypatch):
    """A scratch copy of the course, made the working directory."""
    copy = load_course(copy_course(course.root, tmp_path / "course"))
    monkeypatch.chdir(copy.root)
    return copy


@pytest.fixture(scope="session")
def solution(course):
    """Module 06's reference solution, loaded from its #| export cells."""
    return load_exported(course.module(course.assignment).solution, "solution_optimizers")
