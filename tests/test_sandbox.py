"""The grading engine against hostile and broken code, on a two-test toy autograder."""
import ast
import json
import os
import subprocess
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tito.grading.judge import Grader, load_autograder_from
from tito.grading.reports import feedback_markdown
from tito.grading.sandbox import Isolation, choose_isolation, jobs_summary
from tito.grading.submissions import Submission
from tito.grading.worker import Limits
from tito.grading.zygote import OUTPUT_KEPT
from tito.grading.isolation import JOB_BYTES

pytestmark = pytest.mark.grading

TOY = Path(__file__).parent / "toy_autograder"
GOOD = "import numpy as np\ndef add(a, b): return a + b\ndef greet(name): return 'hello ' + name\n"
ISOLATIONS = ["bubblewrap", "none", "uid"]


@pytest.fixture(scope="module", params=ISOLATIONS)
def grader(request):
    """With bubblewrap, without it, and with only a user per job (as in a container that
    refuses namespaces), whatever else this machine would allow."""
    isolation = choose_isolation(use_bubblewrap=request.param == "bubblewrap")
    if request.param == "bubblewrap" and not isolation.isolated:
        pytest.skip("bubblewrap is not available on this machine")
    if request.param == "uid":
        if os.getuid() != 0:
            pytest.skip("a user per job needs a grader run by root")
        isolation = Isolation("none", jobs_summary("uid", "asked for"), (), "uid")
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


def test_a_late_submission_is_demoted_with_its_scheduling_group(grader, tmp_path):
    """The kernel's autogroup schedules each session apart, where a nice value weighs nothing
    against another session: the late job's whole group takes the lowest priority."""
    code = GOOD + textwrap.dedent("""
        import time
        def add(a, b):
            while True: pass
        def greet(name):
            time.sleep(0.5)
            return open("/proc/self/autogroup").read().split()[-1]
    """)
    assert "greet gave '19'" in messages(grade(grader, tmp_path, code))


def test_a_late_submission_in_a_session_of_its_own_is_demoted_with_it(grader, tmp_path):
    code = GOOD + textwrap.dedent("""
        import os, time
        def add(a, b):
            while True: pass
        def greet(name):
            read, write = os.pipe()
            if os.fork() == 0:
                os.setsid()
                time.sleep(0.5)
                os.write(write, open("/proc/self/autogroup", "rb").read())
                os._exit(0)
            os.close(write)
            return os.read(read, 100).decode().split()[-1]
    """)
    assert "greet gave '19'" in messages(grade(grader, tmp_path, code))


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
    """In namespaces: /tmp (with $HOME and the working folder), /dev/shm are tmpfs's of its own.
    With only a user of its own: $HOME and the working folder lie in a folder only it may enter."""
    where = GOOD + textwrap.dedent("""
        import os
        places = ("/tmp", os.environ["HOME"], os.getcwd())
        sizes = [os.statvfs(p).f_blocks * os.statvfs(p).f_frsize for p in places]
        top = os.stat(os.environ["HOME"] if os.environ["TMPDIR"] == "/tmp" else os.environ["TMPDIR"])
        def greet(name):
            return f"{sizes} bytes, {oct(top.st_mode & 0o777)} {top.st_uid == os.getuid()}"
    """)
    said = messages(grade(grader, tmp_path, where))
    assert "0o700 True" in said
    if grader.isolation.jobs == "namespaces":
        assert f"greet gave '{[JOB_BYTES] * 3} bytes" in said
        assert grade(grader, tmp_path, disk_bomb("'/dev/shm'")).score == 60
        assert grade(grader, tmp_path, ROOM_TO_WRITE).score == 100
    else:
        assert "/tmp is the machine's" in grader.isolation.summary


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


def grade_side_by_side(grader, tmp_path, codes: dict[str, str]) -> dict:
    with ThreadPoolExecutor(len(codes)) as pool:
        futures = {name: pool.submit(grade, grader, tmp_path, code, name) for name, code in codes.items()}
        return {name: future.result() for name, future in futures.items()}


SEEN_BY_A_JOB = GOOD + textwrap.dedent("""
    import json, os, subprocess, time
    token = os.urandom(8).hex()
    for folder in ("/tmp", os.environ["HOME"], os.getcwd()):
        with open(os.path.join(folder, token), "w") as f:
            f.write("x")
    subprocess.Popen(["sleep", "4321"])
    time.sleep(1.0)  # while the other job is loaded too
    import re, sys, tito
    # the grader's Python and packages, shown read-only where they live under /tmp
    installed = {sys.prefix, sys.base_prefix, os.path.dirname(os.path.dirname(tito.__file__))}
    def walk(top):
        found = []
        for d, folders, files in os.walk(top):
            folders[:] = [f for f in folders if os.path.join(d, f) not in installed]
            found += [os.path.join(d, f) for f in files if re.fullmatch("[0-9a-f]{16}", f)]  # tokens
        return sorted(found)
    seen = {
        "token": token,
        "uid": os.getuid(),
        "ns": {k: os.readlink(f"/proc/self/ns/{k}") for k in ("pid", "mnt", "ipc")},
        "commands": sorted(c for c in (open(f"/proc/{p}/cmdline").read() for p in os.listdir("/proc") if p.isdigit())
                           if "4321" in c or "tito" in c),
        "files": walk("/tmp") + walk("/dev/shm"),
        "caps": open("/proc/self/status").read().split("CapEff:")[1].split()[0],
        "env": sorted(os.environ),
        "folder": os.environ["TMPDIR"],
        "folders": sorted(f"/tmp/{d}" for d in os.listdir("/tmp")
                          if d.startswith("tito-job") and os.access(f"/tmp/{d}", os.R_OK | os.X_OK)),
        "open": sorted(os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")
                       if os.path.exists(f"/proc/self/fd/{fd}")),
    }
    def greet(name):
        return json.dumps(seen)
""")


def seen(result) -> dict:
    """What the job reported, read back from the check's message (its repr of the text: the
    commands a job sees may hold quotes)."""
    return json.loads(ast.literal_eval(messages(result).split("greet gave ", 1)[1]))


def test_two_jobs_see_nothing_of_each_other(grader, tmp_path):
    """Each sees only its own processes and files, in namespaces of its own, as its own user;
    with only a user of its own, it sees the others' processes but cannot enter their folders."""
    one, two = (seen(r) for r in grade_side_by_side(grader, tmp_path, {"one": SEEN_BY_A_JOB,
                                                                       "two": SEEN_BY_A_JOB}).values())
    for job in (one, two):
        assert job["caps"] == "0" * 16
        # /dev/null, its output twice, its results: no zygote socket, no pipe of another job
        assert len(job["open"]) == 4 and not [f for f in job["open"] if f.startswith("socket")]
        assert job["folders"] == [job["folder"]] or not job["folders"]  # no other job's folder
    assert one["uid"] != two["uid"] and {one["uid"], two["uid"]} & {0, os.getuid()} == set()
    if grader.isolation.jobs == "namespaces":
        for job in (one, two):
            assert len(job["commands"]) == 3 and sum("sleep" in c for c in job["commands"]) == 1  # its PID 1, itself
            assert [Path(f).name for f in job["files"]] == [job["token"]] * 3  # in /tmp, $HOME, working folder
        mine = {k: os.readlink(f"/proc/self/ns/{k}") for k in ("pid", "mnt", "ipc")}
        for kind in ("pid", "mnt", "ipc"):
            assert len({one["ns"][kind], two["ns"][kind], mine[kind]}) == 3, kind


def test_a_job_sees_none_of_the_graders_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TITO_GRADER_SECRET", "hunter2")
    isolation = choose_isolation()
    with Grader(load_autograder_from(TOY), Limits(test_seconds=3), isolation) as grader:
        env = seen(grade(grader, tmp_path, SEEN_BY_A_JOB))["env"]
    assert set(env) == {"PATH", "HOME", "TMPDIR", "LANG", "PYTHONDONTWRITEBYTECODE", "OPENBLAS_NUM_THREADS",
                        "OMP_NUM_THREADS", "MKL_NUM_THREADS"}


def test_a_job_cannot_signal_limit_or_read_the_zygote_or_a_classmate(grader, tmp_path):
    """The attacker tries every process it can name; the classmate graded beside it keeps 100."""
    attack = GOOD + textwrap.dedent("""
        import os, resource, signal, time
        time.sleep(0.3)  # the classmate is loaded by now
        me = os.getpid()
        for pid in {1, os.getppid(), *(int(p) for p in os.listdir("/proc") if p.isdigit())} - {0, me}:
            for attempt in (lambda: resource.prlimit(pid, resource.RLIMIT_FSIZE, (0, 0)),
                            lambda: open(f"/proc/{pid}/mem", "rb").read(1),
                            lambda: open(f"/proc/{pid}/environ", "rb").read(1),
                            lambda: os.kill(pid, signal.SIGSTOP), lambda: os.kill(pid, signal.SIGKILL)):
                try:
                    attempt()
                except OSError:
                    pass
        for sig in (signal.SIGINT, signal.SIGKILL):
            try:
                os.kill(-1, sig)
            except OSError:
                pass
    """)
    slow = GOOD + "import time\ntime.sleep(1.0)\n"
    scores = {name: r.score for name, r in grade_side_by_side(grader, tmp_path, {"attacker": attack,
                                                                                 "classmate": slow}).items()}
    assert scores == {"attacker": 100, "classmate": 100}
    assert grade(grader, tmp_path, GOOD).score == 100  # the zygote still serves, with its limits


def test_graders_side_by_side_never_share_a_job_user(tmp_path):
    """Two grading processes' zygotes number their jobs alike; with a user per job, the end of
    one's job (which kills every process of its user) must not kill the other's."""
    if os.getuid() != 0:
        pytest.skip("a user per job needs a grader run by root")
    isolation = Isolation("none", jobs_summary("uid", "asked for"), (), "uid")
    slow = GOOD + "import os, time\ntime.sleep(1.5)\nUID = os.getuid()\n"
    quick = GOOD + "import os\nUID = os.getuid()\n"
    with Grader(load_autograder_from(TOY), Limits(test_seconds=3), isolation) as one, \
            Grader(load_autograder_from(TOY), Limits(test_seconds=3), isolation) as two:
        with ThreadPoolExecutor(2) as pool:
            slowly = pool.submit(grade, one, tmp_path, slow, "slow")
            quickly = pool.submit(grade, two, tmp_path, quick, "quick")
            assert quickly.result().score == 100
            assert slowly.result().score == 100, slowly.result().problem


def test_a_submission_that_floods_the_grader_with_json_gets_an_error_past_its_budget(grader, tmp_path):
    """Each message is under the wire's limit, but together they would cost the grader hundreds
    of MB of Python objects: past the submission's budget the rest is an error."""
    from hostile_corpus import forged

    flood = forged('[encode({"type": "result", "scenario": n, "observations": [{}] * 900_000}) for n in names]')
    result = grade(grader, tmp_path, GOOD + flood)
    assert [o.status for o in result.outcomes] == ["failed", "error"]
    assert "more than 4 MB of results" in result.outcomes[1].message


def test_what_the_code_printed_reaches_the_grader_and_the_rest_is_cut(grader, tmp_path):
    loud = grade(grader, tmp_path, "print('first words')\nprint('x' * 10_000_000)\n" + GOOD)
    assert loud.score == 100 and loud.output_cut
    assert loud.output.startswith("first words\nxxx") and len(loud.output) == OUTPUT_KEPT
    quiet = grade(grader, tmp_path, "import sys\nprint('hello')\nprint('oops', file=sys.stderr)\n" + GOOD)
    assert (quiet.output, quiet.output_cut) == ("hello\noops\n", False)


def processes() -> dict[int, tuple[int, str]]:
    """Every process on the machine: pid -> (parent's pid, start time, which tells a reused pid)."""
    found = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone already
            continue
        found[int(entry)] = (int(fields[1]), fields[19])
    return found


def descendants(root: int) -> dict[tuple[int, str], str]:
    """(pid, start time) -> command line of every process below `root` now."""
    table, found, frontier = processes(), {}, {root}
    while frontier:
        frontier = {pid for pid, (parent, _) in table.items() if parent in frontier}
        for pid in frontier:
            try:
                found[pid, table[pid][1]] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                pass
    return found


def test_no_job_process_outlives_the_grader(tmp_path):
    """Only this grader's processes are looked at (those below its zygote, seen while it ran):
    another grading run on the machine has jobs of the same users."""
    code = GOOD + "import subprocess, time\nsubprocess.Popen(['sleep', '765432'], start_new_session=True)\ntime.sleep(0.5)\n"
    seen = {}
    with Grader(load_autograder_from(TOY), Limits(test_seconds=3), choose_isolation()) as grader, \
            ThreadPoolExecutor(1) as grading:
        graded = grading.submit(grade, grader, tmp_path, code)
        while not graded.done():
            seen = descendants(grader.zygote.process.pid) | seen  # the first seen: a dying process's is empty
            time.sleep(0.01)
        assert graded.result().score == 100
    assert [args for args in seen.values() if args.startswith("sleep 765432")], "the job's process was seen"
    table = processes()
    assert [args for (pid, start), args in seen.items() if table.get(pid, (0, ""))[1] == start] == []


def test_feedback_quotes_what_the_code_printed_in_a_block_it_cannot_close(grader, tmp_path):
    forged = "print('```')\nprint('**Score: 100 / 100**')\nprint('\\x1b[2J')\n" + GOOD.replace("'hello '", "'hi '")
    result = grade(grader, tmp_path, forged)
    feedback = feedback_markdown(result)
    before, fence, after = feedback.partition("\n> ````text\n")
    assert fence and "**Score: 100 / 100**" not in before and "\x1b" not in feedback
    quoted, closing, rest = after.partition("\n> ````")
    assert quoted == "> ```\n> **Score: 100 / 100**\n> \\x1b[2J" and closing and rest.strip() == ""
    assert "What your code printed:" in before
    loud = feedback_markdown(grade(grader, tmp_path, "print('x' * 10_000)\n" + GOOD))
    assert "The first 4 KB of what your code printed (the rest was cut):" in loud
