"""The benchmarks in `benchmarks/`: their common result format, and `tito bench`'s outputs.

A benchmark is a script with `run(quick) -> dict`. Its result has a `title`, `rows` (one
measured figure each, made by `row`: median and spread of several runs, and any derived figures
in `extra`), `targets` (what was aimed at, the value reached, and whether it was met) and
`notes`. Every figure is measured next to a peer in the same run, so ratios mean something even
on a busy machine.
"""
from __future__ import annotations

import importlib.util
import json
import os
import platform
import statistics
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from tito.course import CourseError

BENCHMARKS = ("grade_throughput", "tito_test_latency", "optimizer_step")
FOLDER = "benchmarks"
README_TARGETS = ("<!-- written by tito bench, from benchmarks/results.json -->", "<!-- end of tito bench -->")


def row(case: str, name: str, unit: str, samples: list[float], **extra) -> dict:
    """One measured figure: the median of `samples` and their spread (lowest, highest)."""
    return {"case": case, "name": name, "unit": unit, "median": statistics.median(samples),
            "low": min(samples), "high": max(samples), "runs": len(samples), "extra": extra}


def target(text: str, value: str, met: bool) -> dict:
    return {"target": text, "value": value, "met": bool(met)}


def machine() -> dict:
    """What the figures were measured on, and how busy it was when the run started."""
    cpu = next((line.split(":", 1)[1].strip() for line in _read("/proc/cpuinfo").splitlines()
                if line.startswith("model name")), platform.processor())
    memory_kb = next((int(line.split()[1]) for line in _read("/proc/meminfo").splitlines()
                      if line.startswith("MemTotal")), 0)
    versions = {name: _version(name) for name in ("numpy", "torch", "nbgrader")}
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(memory_kb / 2 ** 20),
            "system": f"{platform.system()} {platform.release()}",
            "python": platform.python_version(), **versions,
            "load_average": [round(x, 2) for x in os.getloadavg()]}


def load_benchmark(root: Path, name: str):
    path = root / FOLDER / f"{name}.py"
    if not path.is_file():
        raise CourseError(f"{path} is missing: the benchmarks are {', '.join(BENCHMARKS)}.")
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_benchmarks(root: Path, names: list[str], quick: bool, on_result=lambda result: None) -> dict:
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        raise CourseError(f"Unknown benchmark {', '.join(unknown)}: choose from {', '.join(BENCHMARKS)}.")
    results = {"machine": machine(), "quick": quick, "benchmarks": {}}
    for name in names:
        results["benchmarks"][name] = load_benchmark(root, name).run(quick)
        on_result(results["benchmarks"][name])
    return results


def write_results(results: dict, folder: Path) -> list[Path]:
    """results.json, results.md (the README's table) and results.png in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / "results.json", folder / "results.md", folder / "results.png"]
    paths[0].write_text(json.dumps(results, indent=2) + "\n")
    paths[1].write_text(markdown(results))
    plot(results, paths[2])
    return paths


def figure(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def extra_columns(result: dict) -> list[str]:
    return list(dict.fromkeys(key for r in result["rows"] for key in r["extra"]))


def cells(r: dict, extras: list[str]) -> list[str]:
    """A row's figures as text: name, median, spread, unit and its extra figures."""
    values = (r["extra"].get(key, "") for key in extras)
    return [r["name"], figure(r["median"]), f"{figure(r['low'])}–{figure(r['high'])}", r["unit"],
            *(figure(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v) for v in values)]


def caption(result: dict) -> list[str]:
    runs = sorted({r["runs"] for r in result["rows"]})
    return ([f"median and spread (min–max) of {' or '.join(map(str, runs))} runs"]
            + [_target_line(t) for t in result["targets"]] + result["notes"])


def result_table(result: dict) -> Table:
    """A benchmark's figures, grouped by case, with its targets and notes below."""
    extras = extra_columns(result)
    table = Table(title=result["title"], title_justify="left", caption_justify="left",
                  caption=escape("\n".join(caption(result))))
    for column in ("measured", "median", "spread", "unit", *extras):
        table.add_column(column, justify="left" if column == "measured" else "right")
    case = None
    for r in result["rows"]:
        if r["case"] != case:
            case = r["case"]
            table.add_row(f"[bold]{escape(case)}[/]")
        table.add_row(*(escape(text) for text in cells(r, extras)))
    return table


def measured_on(results: dict) -> str:
    m = results["machine"]
    return (f"Measured on {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, {m['system']}, "
            f"Python {m['python']}, numpy {m['numpy']}, torch {m['torch']}, nbgrader {m['nbgrader']} "
            f"(load average {m['load_average'][0]} at the start){', quick mode' if results['quick'] else ''}.")


def markdown(results: dict) -> str:
    lines = [measured_on(results), ""]
    for result in results["benchmarks"].values():
        extras = extra_columns(result)
        lines += [f"**{result['title']}**", "",
                  "| " + " | ".join(["case", "measured", "median", "spread", "unit", *extras]) + " |",
                  "|" + " --- |" * (5 + len(extras))]
        lines += ["| " + " | ".join([r["case"], *cells(r, extras)]) + " |" for r in result["rows"]]
        lines += [""] + [f"- {line}" for line in caption(result)] + [""]
    return "\n".join(lines)


def targets_markdown(results: dict) -> str:
    """Every benchmark's targets and what was reached: the README's table."""
    lines = [measured_on(results), "", "| benchmark | target | reached | |", "| --- | --- | --- | --- |"]
    lines += [f"| {result['title']} | {t['target']} | {t['value']} | {'met' if t['met'] else '**not met**'} |"
              for result in results["benchmarks"].values() for t in result["targets"]]
    return "\n".join(lines)


def with_targets(readme: str, results: dict) -> str:
    """The README's text with its table of targets made from `results`."""
    start, end = README_TARGETS
    if start not in readme or end not in readme:
        raise CourseError(f"README.md has lost the lines that hold the benchmarks' targets: {start} ... {end}")
    before, rest = readme.split(start, 1)
    return f"{before}{start}\n{targets_markdown(results)}\n{end}{rest.split(end, 1)[1]}"


def plot(results: dict, path: Path) -> None:
    """One panel per benchmark: each figure's median as a bar, its spread as an error bar; the
    bars of one kind (the first word of their name: tito, solution, torch...) share a color."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    benchmarks = list(results["benchmarks"].values())
    heights = [1 + 0.22 * len(b["rows"]) for b in benchmarks]
    kinds = list(dict.fromkeys(r["name"].split()[0] for b in benchmarks for r in b["rows"]))
    fig, axes = plt.subplots(len(benchmarks), 1, figsize=(10, sum(heights)), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for ax, result in zip(axes[:, 0], benchmarks):
        rows = result["rows"]
        one_case = len({r["case"] for r in rows}) == 1
        medians = [r["median"] for r in rows]
        ax.barh(range(len(rows)), medians, color=[f"C{kinds.index(r['name'].split()[0])}" for r in rows],
                xerr=[[r["median"] - r["low"] for r in rows], [r["high"] - r["median"] for r in rows]],
                ecolor="0.3", capsize=2)
        ax.set_yticks(range(len(rows)), [r["name"] if one_case else f"{r['case']} · {r['name']}" for r in rows],
                      fontsize=7)
        ax.set_ylim(len(rows) - 0.5, -0.5)
        ax.set_xlabel(" / ".join(dict.fromkeys(r["unit"] for r in rows)))
        if max(medians) > 100 * min(medians) > 0:
            ax.set_xscale("log")
        ax.set_title(result["title"] + (f" ({rows[0]['case']})" if one_case else ""), fontsize=9, loc="left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def quick_flag(description: str) -> bool:
    """The `--quick` flag of `python benchmarks/NAME.py [--quick]`."""
    import argparse

    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes and few repeats, for CI")
    return parser.parse_args().quick


def _target_line(t: dict) -> str:
    return f"{'met' if t['met'] else 'NOT MET'}: {t['target']} ({t['value']})"


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"
