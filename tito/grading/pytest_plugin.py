"""A module's hidden autograder under pytest: `pytest autograder/06_optimizers --submission PATH`.

Each hidden test is one pytest item, named by the test, that passes or fails with the grader's
verdict and message; the terminal output ends with the score, and every JUnit `<testcase>` carries
`points` and `max_points` properties. The student's code runs once per session, in the same
sandboxed worker as with `tito grade` (one `Grader.grade`, at the first item), never in pytest's
process: the scores are the grader's, whatever the code does to pytest where it runs.

The plugin is an entry point (`pytest11` in pyproject.toml), not a conftest.py plugin: pytest
then knows `--submission` before it loads any conftest.py, so the submission's path is never
taken for a test path and a conftest.py in the submission's folder is never imported. Every
pytest run in the environment loads it, so the grader (and numpy with it) is imported only when
an autograder folder is collected.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tito.course import CourseError, Module, find_root, load_course

if TYPE_CHECKING:
    from tito.grading.judge import Autograder, SubmissionResult, TestOutcome

GRADED = pytest.StashKey[list["HiddenTests"]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tito", "grading one submission with a module's hidden autograder")
    group.addoption("--submission", metavar="PATH",
                    help="the submission to grade (a .py, an .ipynb or a folder); name the autograder "
                         "folder first: pytest autograder/06_optimizers --submission PATH")
    group.addoption("--submission-timeout", type=float, metavar="SECONDS",
                    help="seconds per hidden test (default: tito grade's --timeout)")
    group.addoption("--require-isolation", action="store_true",
                    help="refuse to grade when no sandbox is available, as tito grade does")


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(early_config: pytest.Config):
    if submission_path(early_config, early_config.known_args_namespace.submission) is not None:
        refuse_configuration_beside_the_submission(early_config)
    return (yield)


def refuse_configuration_beside_the_submission(config: pytest.Config) -> None:
    """Stop before any conftest.py loads if pytest's configuration came from the submission's side.

    pytest picks its ini file and rootdir from the paths on its command line before any plugin
    runs, so a submission named before the autograder folder can bring its own pytest.ini (a
    student's folder, or the folder beside a notebook, may hold one). Named after it, or written
    --submission=PATH, it cannot: pytest then finds the course's configuration above the
    autograder folder. So the configuration must lie at or above a test path.
    """
    options, here = config.known_args_namespace, config.invocation_params.dir
    chosen = {}
    if config.inipath is not None and not options.inifilename:  # -c FILE is the instructor's choice
        chosen["configuration file"] = config.inipath
    if not options.rootdir:
        chosen["rootdir"] = config.rootpath
    test_paths = [(here / arg.split("::")[0]).resolve() for arg in options.file_or_dir] or [here.resolve()]
    for what, path in chosen.items():
        folder = (path if path.is_dir() else path.parent).resolve()
        if not any(test_path.is_relative_to(folder) for test_path in test_paths):
            raise pytest.UsageError(
                f"pytest took its {what} {path} from beside the submission, not from the "
                "autograder folder: name the autograder folder before --submission, e.g. "
                "pytest autograder/<module> --submission PATH")


def submission_path(config: pytest.Config, value: str | None) -> Path | None:
    if value is None:
        return None
    path = config.invocation_params.dir / value
    if not path.exists():
        raise pytest.UsageError(f"--submission {value}: no such file or folder.")
    return path


def pytest_collect_directory(path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    found = autograder_at(path)
    if found is None:
        return None
    module, autograder = found
    return HiddenTests.from_parent(parent, path=path, module=module, autograder=autograder)


def autograder_at(folder: Path) -> tuple[Module, Autograder] | None:
    """The course module whose autograder is `folder`, if it is one."""
    if not (folder / "tests.py").is_file():
        return None
    try:
        course = load_course(find_root(folder))
    except CourseError:
        return None
    for module in course.modules:
        if module.folder == folder.name:
            from tito.grading.judge import load_autograder

            autograder = load_autograder(module)
            if autograder.folder.resolve() == folder.resolve():
                return module, autograder
    return None


class HiddenTests(pytest.Directory):
    """An autograder folder: one item per hidden test, all graded by one run of the grader."""

    def __init__(self, *, module: Module, autograder: Autograder, **kwargs):
        super().__init__(**kwargs)
        self.module, self.autograder = module, autograder
        self.result: SubmissionResult | None = None
        self.isolation = ""
        self.ran: list[TestOutcome] = []

    def collect(self):
        self.config.stash.setdefault(GRADED, []).append(self)
        path = submission_path(self.config, self.config.getoption("submission"))
        if path is None:  # the project's own test runs collect nothing here
            return []
        from tito.grading.submissions import Submission, submission_at

        self.submission = submission_at(path, self.module) or Submission(
            path.stem, None, f"{path.name} is neither a .py nor an .ipynb file")
        return [HiddenTest.from_parent(self, name=test.name, test=test) for test in self.autograder.tests]

    def outcome(self, name: str) -> TestOutcome:
        if self.result is None:
            self.result = self._grade()
        return next(o for o in self.result.outcomes if o.name == name)

    def _grade(self) -> SubmissionResult:
        from tito.grading.judge import Grader
        from tito.grading.sandbox import SandboxError, choose_isolation
        from tito.grading.worker import Limits

        timeout = self.config.getoption("submission_timeout")
        limits = Limits() if timeout is None else Limits(test_seconds=timeout)
        try:
            isolation = choose_isolation(allow_none=not self.config.getoption("require_isolation"))
            with Grader(self.autograder, limits, isolation) as grader:
                self.isolation = isolation.summary
                return grader.grade(self.submission)
        except (SandboxError, OSError) as error:  # the grader's machine, not the submission
            pytest.exit(f"the grader could not run: {error}", returncode=pytest.ExitCode.INTERNAL_ERROR)

    def summary(self) -> list[str]:
        if self.config.getoption("submission") is None:
            return [f"{self.path.name} holds the hidden tests of module {self.module.number}: "
                    "add --submission PATH to grade a submission"]
        if self.result is None or not self.ran:
            return []
        lines = [f"isolation: {self.isolation}"]
        if self.result.problem:
            lines.append(f"{self.submission.student} scores nothing: {self.result.problem}")
        score, points = sum(o.score for o in self.ran), sum(o.points for o in self.ran)
        line = f"score {score:g}/{points:g}"
        if len(self.ran) < len(self.result.outcomes):
            line += f" ({len(self.ran)} of {len(self.result.outcomes)} tests run)"
        return lines + [line]


class HiddenTest(pytest.Item):
    def __init__(self, *, test, **kwargs):
        super().__init__(**kwargs)
        self.test = test

    def setup(self) -> None:
        self.verdict = self.parent.outcome(self.name)

    def runtest(self) -> None:
        verdict = self.verdict
        self.user_properties += [("points", f"{verdict.score:g}"), ("max_points", f"{verdict.points:g}")]
        self.parent.ran.append(verdict)
        if verdict.status != "passed":
            raise HiddenTestFailed(verdict.message)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, HiddenTestFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path, None, f"{self.name}: {self.test.concept}"


class HiddenTestFailed(Exception):
    """The grader's verdict on a hidden test that did not pass; its message is the student's."""


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_sessionfinish(session: pytest.Session):
    """The score, after pytest's own summary: the last line of the output is the grader's."""
    result = yield
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    graded = session.config.stash.get(GRADED, [])
    if reporter is not None:
        if session.config.getoption("submission") and not graded:
            reporter.write_line("--submission: no autograder folder was collected; name one, "
                                "e.g. pytest autograder/<module> --submission PATH")
        for tests in graded:
            for line in tests.summary():
                reporter.write_line(line, bold=line.startswith("score"))
    return result
