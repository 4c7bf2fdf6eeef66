from pathlib import Path

from tito.bench import BENCHMARKS, FOLDER, result_table, run_benchmarks, with_targets, write_results
from tito.console import console
from tito.course import find_root


def add_arguments(parser):
    parser.add_argument("benchmarks", nargs="*", metavar="BENCHMARK",
                        help=f"which to run: {', '.join(BENCHMARKS)} (default: all)")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes and few repeats, to check that they run (written to build/bench-quick/)")
    parser.add_argument("--out", type=Path, help=f"folder for results.json, .md and .png (default: {FOLDER}/)")


def run(args) -> int:
    root = find_root()
    out = args.out or root / ("build/bench-quick" if args.quick else FOLDER)
    results = run_benchmarks(root, args.benchmarks or list(BENCHMARKS), args.quick,
                             on_result=lambda result: console.print(result_table(result)))
    paths = write_results(results, out)
    if out == root / FOLDER:
        readme = root / "README.md"
        readme.write_text(with_targets(readme.read_text(), results))
        paths.append(readme)
    missed = [t["target"] for b in results["benchmarks"].values() for t in b["targets"] if not t["met"]]
    console.print(f"[{'yellow' if missed else 'green'}]{len(missed)} targets not met[/]"
                  + "".join(f"\n  {target}" for target in missed))
    console.print("wrote " + ", ".join(str(path) for path in paths))
    return 0
