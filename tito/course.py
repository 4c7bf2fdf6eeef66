"""The course on disk: its root folder and the module registry in `course.toml`."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10, as on Gradescope's images
    import tomli as tomllib

REGISTRY = "course.toml"
# When Gradescope shows students each test's result (its `visibility`), from course.toml's
# [gradescope] test_visibility.
VISIBILITIES = ("visible", "after_due_date", "after_published", "hidden")


class CourseError(Exception):
    """A problem the user can fix; its message says what is wrong and what to do."""


@dataclass(frozen=True)
class Module:
    number: str
    folder: str
    file: str
    export: str
    root: Path
    autograder: str = ""  # the folder of its hidden tests, relative to the root; "" if it has none

    @property
    def name(self) -> str:
        return self.folder.split("_", 1)[1]

    @property
    def source(self) -> Path:
        """The student's working copy (the `.py`; see `current_source` for the `.ipynb`)."""
        return self.root / "modules" / self.folder / self.file

    @property
    def solution(self) -> Path:
        return self.root / "solutions" / self.folder / self.file

    @property
    def autograder_folder(self) -> Path:
        if not self.autograder:
            raise CourseError(f"Module {self.number} has no autograder: course.toml registers none for it "
                              "(add autograder = \"autograder/<folder>\" to its entry).")
        return self.root / self.autograder

    @property
    def package_file(self) -> Path:
        return self.root / self.export

    @property
    def package_module(self) -> str:
        """`tinytorch/core/tensor.py` -> `core.tensor`, as `#| default_exp` names it."""
        return ".".join(Path(self.export).with_suffix("").parts[1:])


@dataclass(frozen=True)
class Course:
    root: Path
    modules: tuple[Module, ...]
    assignment: str
    test_visibility: str = "visible"

    @property
    def graded_modules(self) -> tuple[Module, ...]:
        """The modules whose autograder course.toml registers."""
        return tuple(m for m in self.modules if m.autograder)

    def module(self, number: str) -> Module:
        wanted = number.zfill(2)
        for module in self.modules:
            if module.number == wanted or module.folder == number:
                return module
        known = ", ".join(m.number for m in self.modules)
        raise CourseError(f"Unknown module {number!r}: this course has modules {known}.")


def find_root(start: Path | None = None) -> Path:
    """The nearest folder at or above `start` that holds `course.toml`."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / REGISTRY).is_file():
            return folder
    raise CourseError(
        f"No {REGISTRY} found in {here} or above it: run tito from inside the course folder.")


def load_course(root: Path | None = None) -> Course:
    root = root or find_root()
    with open(root / REGISTRY, "rb") as f:
        registry = tomllib.load(f)
    modules = tuple(Module(root=root, **entry) for entry in registry["modules"])
    visibility = registry.get("gradescope", {}).get("test_visibility", "visible")
    if visibility not in VISIBILITIES:
        raise CourseError(f"{root / REGISTRY}: [gradescope] test_visibility is {visibility!r}; "
                          f"it must be one of {', '.join(VISIBILITIES)}.")
    return Course(root, modules, registry["assignment"], visibility)


IGNORED_IN_COPIES = (".git", ".venv", "__pycache__", "*.egg-info", ".pytest_cache", ".hypothesis",
                     "demo-output", ".tito")


def copy_course(root: Path, destination: Path) -> Path:
    """A working copy of the course at `destination`, without environments and caches."""
    import shutil

    shutil.copytree(root, destination, ignore=shutil.ignore_patterns(*IGNORED_IN_COPIES))
    return destination
