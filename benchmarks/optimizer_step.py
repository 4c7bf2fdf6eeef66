"""One optimizer step: the solution's SGD, Momentum, Adam and AdamW against torch.optim.

Three cases: N float32 parameters as one tensor, the same N as 200 tensors of mixed sizes, and
1,000 tiny tensors. In each, every implementation steps its own copy of the same parameters with
the same gradients, and they take turns, one step each, so that each sees the machine in the same
state. torch.optim runs with foreach=False (one parameter at a time; also on one thread, as numpy
runs), foreach=True (grouped kernels) and fused=True (one kernel for all). Reported:
- milliseconds per step, and the solution's time over torch's foreach=False time;
- the fraction of the memory bandwidth reached: the bytes an ideal step moves per parameter
  (SGD 12, Momentum 20, Adam and AdamW 28) over the time, against `a += b` on two arrays as large
  as the case (12 bytes per element), timed in the same turns;
- for the solution, the scratch memory one step allocates (tracemalloc's peak, in units of the
  largest parameter) and the state it keeps (in units of all the parameters).

The measuring runs in a fresh interpreter whose environment lacks OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE: set on some processors, they slow a recent numpy.

    python benchmarks/optimizer_step.py [--quick]
"""
from __future__ import annotations

import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

from tito.bench import quick_flag, result_table, row, target
from tito.console import console
from tito.course import CourseError

ROOT = Path(__file__).resolve().parents[1]
OPENBLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
BYTES_PER_PARAMETER = {"SGD": 12, "Momentum": 20, "Adam": 28, "AdamW": 28, "BlockedAdam": 28}
HYPER = {"SGD": {"lr": 1e-3}, "Momentum": {"lr": 1e-3, "momentum": 0.9}, "Adam": {"lr": 1e-3},
         "AdamW": {"lr": 1e-3, "weight_decay": 0.01}, "BlockedAdam": {"lr": 1e-3}}
TORCH_MODES = {  # name: (flags, threads; None for torch's default)
    "foreach=False": ({"foreach": False}, None), "foreach=False 1-thread": ({"foreach": False}, 1),
    "foreach=True": ({"foreach": True}, None), "fused": ({"fused": True}, None)}
# numpy runs each element-wise operation on one core, so the target's peer is torch on one thread;
# torch's default (two threads here) is reported beside it.
PEER = "torch foreach=False 1-thread"
PEERS = {PEER: "time vs peer", "torch foreach=False": "vs 2-thread torch"}  # peer: its column
SCRATCH_ALLOWANCE = 1.01  # one parameter-sized array, and the Python objects of a step


def run(quick: bool) -> dict:
    """Measure in a fresh interpreter, without the OpenBLAS overrides in its environment."""
    if importlib.util.find_spec("torch") is None:
        raise CourseError("benchmarks/optimizer_step.py compares with torch.optim: pip install -e '.[test]'")
    unset = [name for name in OPENBLAS_OVERRIDES if name in os.environ]
    env = {name: value for name, value in os.environ.items() if name not in OPENBLAS_OVERRIDES}
    code = f"import json, runpy; print(json.dumps(runpy.run_path({str(Path(__file__))!r})['measure']({quick})))"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"measuring the optimizer step failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.splitlines()[-1])
    result["notes"].append(f"unset for this benchmark: {', '.join(unset)}" if unset else
                           f"{' and '.join(OPENBLAS_OVERRIDES)} were not set: nothing unset")
    return result


class Param:
    """What an optimizer needs of a parameter: its array and its gradient."""

    def __init__(self, data, grad):
        self.data, self.grad = data, grad


def cases(n: int, rng) -> dict[str, list[int]]:
    shares = 10 ** rng.uniform(0, 4, 200)
    mixed = [max(1, int(n * s / shares.sum())) for s in shares]
    mixed[0] += n - sum(mixed)
    return {f"{n / 1e6:g}M as 1 tensor": [n], f"{n / 1e6:g}M as 200 tensors": mixed,
            "1,000 tiny tensors": [int(s) for s in rng.integers(1, 129, 1000)]}


def measure(quick: bool) -> dict:
    import numpy as np
    import torch

    from tito.course import load_course
    from tito.exporter import load_exported

    course = load_course(ROOT)
    solution = load_exported(course.module(course.assignment).solution, "solution_optimizers")
    rng = np.random.default_rng(0)
    n, repeats = (1_000_000, 3) if quick else (10_000_000, 15)
    rows, ratios, unsupported = [], {}, set()
    for case, sizes in cases(n, rng).items():
        init = [rng.standard_normal(size, dtype=np.float32) for size in sizes]
        grads = [rng.standard_normal(size, dtype=np.float32) for size in sizes]
        optimizers, steps = {}, {}
        for kind in HYPER:
            optimizers[kind] = getattr(solution, kind)([Param(x.copy(), g) for x, g in zip(init, grads)], **HYPER[kind])
            steps[f"solution {kind}"] = optimizers[kind].step
            for mode, (flags, threads) in TORCH_MODES.items():
                try:
                    steps[f"torch {mode} {kind}"] = torch_step(torch, kind, init, grads, flags, threads)
                except (RuntimeError, ValueError, TypeError) as error:
                    unsupported.add(f"{kind} {mode}: {str(error).splitlines()[0][:100]}")
        a, b = np.ones(sum(sizes), np.float32), np.ones(sum(sizes), np.float32)
        steps["a += b"] = lambda: a.__iadd__(b)
        times = take_turns(steps, repeats)
        adds = times.pop("a += b")
        bandwidth = 12 * a.size / statistics.median(adds)
        rows.append(row(case, "a += b", "ms", [1e3 * s for s in adds], **{"GB/s": bandwidth / 1e9}))
        for name, samples in times.items():
            kind = name.split()[-1]
            median = statistics.median(samples)
            extra = {"of bandwidth": BYTES_PER_PARAMETER[kind] * a.size / median / bandwidth}
            if name.startswith("solution"):
                extra |= memory(optimizers[kind], sizes)
                for peer, column in PEERS.items():
                    if f"{peer} {kind}" in times:
                        extra[column] = median / statistics.median(times[f"{peer} {kind}"])
                ratios[(case, kind)] = extra.get(PEERS[PEER])
            rows.append(row(case, name, "ms", [1e3 * s for s in samples], **extra))
    return summarize(rows, ratios, unsupported, torch, quick)


def torch_step(torch, kind: str, init, grads, flags: dict, threads: int | None):
    """The step of a torch.optim optimizer on copies of the parameters, on `threads` threads
    (torch's default when None)."""
    params = []
    for x, g in zip(init, grads):
        p = torch.from_numpy(x.copy()).requires_grad_()
        p.grad = torch.from_numpy(g)  # shared with the solution's parameters: read, never written
        params.append(p)
    make = {"SGD": torch.optim.SGD, "Momentum": torch.optim.SGD, "Adam": torch.optim.Adam,
            "AdamW": torch.optim.AdamW, "BlockedAdam": torch.optim.Adam}[kind]
    optimizer = make(params, **HYPER[kind], **flags)
    optimizer.step()  # a fused optimizer may refuse only now
    if threads is None:
        return optimizer.step

    def step():
        default = torch.get_num_threads()
        torch.set_num_threads(threads)
        optimizer.step()
        torch.set_num_threads(default)

    return step


def take_turns(steps: dict, repeats: int) -> dict[str, list[float]]:
    """Seconds of each step, `repeats` times, every function once per turn; a first turn untimed."""
    for step in steps.values():
        step()
    times = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            started = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - started)
    return times


def memory(optimizer, sizes: list[int]) -> dict:
    """Scratch memory of one step, in units of the largest parameter; state, in units of all."""
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    optimizer.step()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    state = sum(v.nbytes for s in optimizer.state.values() for v in s.values() if hasattr(v, "nbytes"))
    return {"scratch": (peak - before) / (4 * max(sizes)), "state": state / (4 * sum(sizes))}


def summarize(rows, ratios, unsupported, torch, quick) -> dict:
    adam = {case: ratio for (case, kind), ratio in ratios.items() if kind == "BlockedAdam"}
    big = [r for r in rows if r["name"].startswith("solution") and "tiny" not in r["case"]
           and r["name"] not in ("solution Adam", "solution AdamW")]  # the taught kernels: reported
    scratch = max(r["extra"]["scratch"] for r in big)
    state = {kind: {r["extra"]["state"] for r in rows if r["name"] == f"solution {kind}"}
             for kind in ("Momentum", "Adam", "AdamW")}
    targets = [
        target(f"the solution's BlockedAdam (section 4's numpy kernel, no compiled code) at least as fast "
               f"as {PEER} Adam in every case",
               ", ".join(f"{case}: {ratio:.2f}x its time" for case, ratio in adam.items() if ratio),
               all(ratio and ratio <= 1 for ratio in adam.values())),
        target("SGD, Momentum and BlockedAdam: at most one parameter-sized scratch array per step (cases of large tensors)",
               f"peak {scratch:.3f}x the largest parameter", scratch <= SCRATCH_ALLOWANCE),
        target("state: 2x the parameters for Adam and AdamW, 1x for Momentum",
               "; ".join(f"{kind} {', '.join(f'{x:g}x' for x in sorted(values))}" for kind, values in state.items()),
               state == {"Momentum": {1.0}, "Adam": {2.0}, "AdamW": {2.0}}),
    ]
    notes = ["of bandwidth: the bytes an ideal step moves / its median time / the bandwidth of a += b, which "
             "numpy measures on one thread: torch on two threads can pass 1",
             f"time vs peer: the solution's median time over {PEER}'s (same optimizer and case), one thread "
             "as numpy's element-wise operations; vs 2-thread torch: the same against torch's default threads",
             "Adam and AdamW are the chapter's readable kernels (temporaries, several passes): reported, not targets",
             "scratch: tracemalloc's peak during one step over the bytes of the largest parameter (met up to "
             f"{SCRATCH_ALLOWANCE:g}: the step's Python objects); for tiny tensors those objects dominate, so it "
             "is reported, not a target. state: the state's bytes over the parameters'",
             f"torch {torch.__version__} on {torch.get_num_threads()} threads unless marked 1-thread"]
    notes += [f"not supported: {text}" for text in sorted(unsupported)]
    if quick:
        notes.append("quick mode: 1M parameters, 3 turns")
    return {"title": "One optimizer step: the solution against torch.optim", "rows": rows,
            "targets": targets, "notes": notes}


if __name__ == "__main__":
    console.print(result_table(run(quick_flag(__doc__))))
