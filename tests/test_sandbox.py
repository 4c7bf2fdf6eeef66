"""The grading engine against hostile and broken code, on a two-test toy autograder."""
import subprocess
import textwrap
from pathlib import Path

import pytest

from tito.grading.judge import Grader, load_autograder_from
from tito.grading.sandbox import Isolation, choose_isolation
from tito.grading.submissions import Submission
from tito.grading.worker import Limits
from tito.grading.isolation import JOB_BYTES

pytestmark = pytest.mark.grading

TOY = Path(__file__).parent / "toy_autograder"
GOOD = "import numpy as np\ndef add(a, b): return a + b\ndef greet(name): return 'hello ' + name\n"
ISOLATIONS = ["bubblewrap", "none"]


@pytest.fixture(scope="module", params=ISOLATIONS)
def grader(request):
    isolation = choose_isolation(use_bubblewrap=request.param == "bubblewrap")
    if request.param == "bubblewrap" and not isolation.isolated:
        pytest.skip("bubblewrap is not available on this machine")
    with Grader(load_autograder_from(TOY), Limits(test_seconds=2, memory_mb=1024), isolation) as grader:
        yield grader


def grade(grader, tmp_path, code, name="student"):
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(code))
    return grader.grade(Submission(name, path))


def messages(result):
    return " | ".join(o.message for o in result.outcomes if o.status != "passed")


def test_correct_code_scores_everything(grader, tmp_path):
    assert grade(grader, tmp_path, GOOD).score == 100


def test_a_wrong_answer_loses_its_points_with_the_reason(grader, tmp_path):
    result = grade(grader, tmp_path, GOOD.replace("'hello '", "'hi '"))
    assert result.score == 60 and "greet gave 'hi ada'" in messages(result)


def test_a_stub_says_what_is_missing(grader, tmp_path):
    result = grade(grader, tmp_path, GOOD + "def greet(name):\n    raise NotImplementedError('greet the user')\n")
    assert result.score == 60 and "not implemented yet: greet the user" in messages(result)


def test_a_hanging_test_loses_only_its_points(grader, tmp_path):
    result = grade(grader, tmp_path, GOOD + "def greet(name):\n    while True: pass\n")
    assert result.score == 60 and "ran for more than 2 s" in messages(result)


def test_a_late_submission_runs_at_the_lowest_priority(grader, tmp_path):
    code = GOOD + textwrap.dedent("""
        import os, time
        def add(a, b):
            while True: pass
        def greet(name):
            time.sleep(0.5)
            return f"nice {os.nice(0)}"
    """)
    assert "greet gave 'nice 19'" in messages(grade(grader, tmp_path, code))


def test_signals_ignored_do_not_save_a_loop(grader, tmp_path):
    code = GOOD + textwrap.dedent("""
        import signal
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        def greet(name):
            while True: pass
    """)
    assert grade(grader, tmp_path, code).score == 60


@pytest.mark.parametrize("exit_call", ["import sys; sys.exit(0)", "import os; os._exit(0)",
                                       "raise KeyboardInterrupt", "raise SystemExit(3)"])
def test_leaving_at_import_scores_zero_with_a_reason(grader, tmp_path, exit_call):
    result = grade(grader, tmp_path, exit_call + "\n" + GOOD)
    assert result.score == 0 and result.problem.startswith("your code")


def test_memory_bomb_and_endless_recursion_fail_their_test(grader, tmp_path):
    bomb = GOOD + "def greet(name):\n    x = [bytearray(10**8) for _ in range(1000)]\n"
    assert grade(grader, tmp_path, bomb).score == 60
    recursion = GOOD + "def greet(name):\n    return greet(name)\n"
    result = grade(grader, tmp_path, recursion)
    assert result.score == 60 and "RecursionError" in messages(result)


def test_a_flood_of_output_is_capped(grader, tmp_path):
    flood = GOOD + "import sys\ntry:\n    sys.stdout.write('x' * 300_000_000)\nexcept OSError:\n    pass\n"
    assert grade(grader, tmp_path, flood).score == 100


def test_no_process_outlives_its_grading(grader, tmp_path):
    code = GOOD + "import subprocess\nsubprocess.Popen(['sleep', '987654'], start_new_session=True)\n"
    grade(grader, tmp_path, code)
    grade(grader, tmp_path, GOOD)  # the zygote reaps what the previous submission left
    assert subprocess.run(["pgrep", "-f", "sleep 987654"], capture_output=True).stdout == b""


def test_a_fork_bomb_stops_at_the_task_limit_and_leaves_nothing(grader, tmp_path):
    """The code reports how many of 200 forks the kernel allowed, in place of its greeting."""
    bomb = GOOD + textwrap.dedent("""
        import os
        made = 0
        for _ in range(200):
            try:
                if os.fork() == 0:
                    os.execvp("sleep", ["sleep", "876543"])
            except OSError:
                break
            made += 1
        def greet(name):
            return f"forked {made}"
    """)
    result = grade(grader, tmp_path, bomb)
    made = int(messages(result).split("forked ")[1].split("'")[0])
    assert result.score == 60 and 0 < made <= grader.limits.tasks
    assert grade(grader, tmp_path, GOOD).score == 100
    assert subprocess.run(["pgrep", "-f", "sleep 876543"], capture_output=True).stdout == b""


ROOM_TO_WRITE = GOOD + textwrap.dedent("""
    import os, tempfile
    folder = tempfile.mkdtemp()
    for i in range(40):  # 10 MB: far more than a correct job needs, far less than a bomb
        with open(os.path.join(folder, str(i)), "wb") as f:
            f.write(bytes(250_000))
""")


def disk_bomb(folder: str) -> str:
    """Code that writes files of 250 KB into `folder` until it may not, then says how much it wrote."""
    return GOOD + textwrap.dedent(f"""
        import os, time
        def greet(name):
            written = 0
            try:
                while True:
                    with open(os.path.join({folder}, f"junk{{written}}"), "wb") as f:
                        f.write(bytes(250_000))
                    written += 1
            except OSError:
                time.sleep(0.2)
                return f"wrote {{written * 250_000 / 2**20:.0f}} MB"
    """)


def test_a_job_that_fills_its_folder_harms_no_one_and_the_next_finds_room(grader, tmp_path):
    """In namespaces the bomb meets ENOSPC in its own tmpfs; outside them the zygote kills it."""
    result = grade(grader, tmp_path, disk_bomb("os.getcwd()"))
    if grader.isolation.jobs == "namespaces":
        wrote = int(messages(result).split("wrote ")[1].split(" MB")[0])
        assert result.score == 60 and 20 < wrote <= JOB_BYTES // 2 ** 20
    else:
        assert result.score == 60 and "it filled the grader's disk" in messages(result)
    assert grade(grader, tmp_path, ROOM_TO_WRITE).score == 100


def test_each_job_has_a_private_capped_tmp_home_and_shm(grader, tmp_path):
    if grader.isolation.jobs != "namespaces":
        pytest.skip("a private /tmp needs a mount namespace per job")
    size = GOOD + textwrap.dedent("""
        import os
        sizes = [os.statvfs(p).f_blocks * os.statvfs(p).f_frsize for p in ("/tmp", os.environ["HOME"], os.getcwd())]
        def greet(name):
            return f"{sizes} bytes"
    """)
    assert f"greet gave '{[JOB_BYTES] * 3} bytes'" in messages(grade(grader, tmp_path, size))
    assert grade(grader, tmp_path, disk_bomb("'/dev/shm'")).score == 60
    assert grade(grader, tmp_path, ROOM_TO_WRITE).score == 100


def test_killing_the_parent_does_not_stop_grading(grader, tmp_path):
    grade(grader, tmp_path, "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n" + GOOD)
    assert grade(grader, tmp_path, GOOD).score == 100


def test_unreadable_files_get_a_reason(grader, tmp_path):
    (tmp_path / "binary.py").write_bytes(b"\x00\xff\xfe garbage")
    result = grader.grade(Submission("binary", tmp_path / "binary.py"))
    assert result.score == 0 and "not a text file" in result.problem
    (tmp_path / "empty.py").write_text("")
    assert "holds no code" in grader.grade(Submission("empty", tmp_path / "empty.py")).problem


def test_isolated_code_cannot_read_the_course_and_the_report_is_honest(tmp_path):
    """With bubblewrap the course is out of sight; without it, the grader says so."""
    root = Path(__file__).resolve().parents[1]
    probe = GOOD + textwrap.dedent(f"""
        import os
        seen = [p for p in ({str(root / 'solutions')!r}, {str(root / 'autograder')!r}, {str(TOY)!r})
                if os.path.exists(p)]
        def greet(name):
            return 'hello ' + name if not seen else str(seen)
    """)
    isolation = choose_isolation()
    with Grader(load_autograder_from(TOY), Limits(), isolation) as grader:
        score = grade(grader, tmp_path, probe).score
    if isolation.isolated:
        assert score == 100
    else:
        assert score == 60 and isolation.summary.startswith("NO isolation")
