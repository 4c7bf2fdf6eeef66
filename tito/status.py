"""Where a student stands on each module."""
from __future__ import annotations

from dataclasses import dataclass

from tito.course import Course, CourseError, Module
from tito.exporter import current_source, package_text
from tito.visible import run_visible_tests


@dataclass(frozen=True)
class ModuleStatus:
    module: Module
    state: str  # "not started", "in progress", "tests passing", "exported", or "broken"
    passed: int
    total: int
    problem: str = ""


def module_status(module: Module) -> ModuleStatus:
    try:
        source = current_source(module)
        results = run_visible_tests(source)
    except CourseError as error:
        return ModuleStatus(module, "broken", 0, 0, str(error))
    passed = sum(r.passed for r in results)
    if passed < len(results):
        state = "in progress" if passed else "not started"
    elif is_exported(module, source):
        state = "exported"
    else:
        state = "tests passing"
    return ModuleStatus(module, state, passed, len(results))


def is_exported(module: Module, source) -> bool:
    try:
        return module.package_file.read_text(encoding="utf-8") == package_text(module, source)
    except (FileNotFoundError, CourseError):
        return False


def course_status(course: Course) -> list[ModuleStatus]:
    return [module_status(module) for module in course.modules]
