"""How long grading a class takes, and what ``--jobs 2`` buys over ``--jobs 1``.

    .venv/bin/python benchmarks/bench_grading.py                      # 30 learners, fixture notebooks
    .venv/bin/python benchmarks/bench_grading.py --notebooks real --learners 2
    .venv/bin/python benchmarks/bench_grading.py --jobs 1 2 4 --cores 0,1

The class is ``--learners`` copies of the two example learners (alternately
``learners/example-complete`` and ``learners/example-mistakes``: their notes as committed),
graded with ``utils.course.grading.grade`` once per ``--jobs`` value. Notebooks:

- ``fixture`` (default): the two small fixture sources of ``tests/fixtures/grading`` (no
  training), the example learners' notebooks generated from them as for the real ones. This
  measures the grader itself: a kernel and an nbval run per notebook, the per-cell timeout of
  the example-mistakes hang (``--timeout``, default 5 s here), the notes checks.
- ``real``: the example learners' notebooks (generated as ``--examples`` does) against
  ``notebooks/``. As ``python -m utils.grading`` does, the course's runs are first trained once for
  the whole grading (``utils.course.grading.shared_runs``; that time is printed apart and counted in
  the total), and every graded notebook starts from a copy of them; ``--run-cache DIR`` uses a
  folder of finished runs instead (e.g. the test session's), and the training is then not timed.

The notes checks train nothing: each post-mortem is checked against the run log saved with
it. ``--cores 0,1`` pins the benchmark (and every process it starts) to those CPUs with
``os.sched_setaffinity``, to measure "on 2 cores" on a larger machine. Prints the total time,
the time per learner, and the speedup of each ``--jobs`` value over the first one.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from utils.course import grading  # noqa: E402
from utils.course.grading.shared_runs import trained_once  # noqa: E402
from utils.course.learner_copies import EXAMPLE_COMPLETE, EXAMPLE_MISTAKES, make_example_submissions  # noqa: E402

FIXTURES = REPO / "tests" / "fixtures" / "grading" / "notebooks"


def make_class(root: Path, count: int, notebooks: str) -> list[str]:
    """``count`` learners under ``root``: copies of the two example learners, alternately."""
    examples = root / "_examples"
    for name in (EXAMPLE_COMPLETE, EXAMPLE_MISTAKES):
        shutil.copytree(REPO / "learners" / name, examples / name,
                        ignore=lambda folder, names: [n for n in names if n.endswith(".ipynb")])
    make_example_submissions(notebooks_root=FIXTURES if notebooks == "fixture" else None, learners_root=examples)
    names = []
    for i in range(count):
        name = f"learner-{i + 1:02d}"
        shutil.copytree(examples / (EXAMPLE_COMPLETE if i % 2 == 0 else EXAMPLE_MISTAKES), root / name)
        names.append(name)
    shutil.rmtree(examples)
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--learners", type=int, default=30)
    parser.add_argument("--notebooks", choices=("fixture", "real"), default="fixture")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds per cell (default: 5 for fixture, 300 for real notebooks)")
    parser.add_argument("--cores", default=None, help="pin to these CPUs, e.g. 0,1")
    parser.add_argument("--run-cache", type=Path, default=None,
                        help="real notebooks: a folder of finished course runs to start from (not timed)")
    args = parser.parse_args(argv)
    if args.cores:
        os.sched_setaffinity(0, {int(c) for c in args.cores.split(",")})
    timeout = args.timeout or (5.0 if args.notebooks == "fixture" else 300.0)
    nb_root = FIXTURES if args.notebooks == "fixture" else REPO / "notebooks"
    cpus = len(os.sched_getaffinity(0))
    print(f"{args.learners} learners (copies of {EXAMPLE_COMPLETE} / {EXAMPLE_MISTAKES}), "
          f"{args.notebooks} notebooks, per-cell timeout {timeout:g} s, {cpus} CPU(s) usable, "
          f"load average {os.getloadavg()[0]:.1f} at start")
    totals = {}
    for jobs in args.jobs:
        with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
            root = Path(tmp)
            names = make_class(root, args.learners, args.notebooks)
            started = time.perf_counter()
            cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
            shared = (contextlib.nullcontext(args.run_cache) if args.notebooks == "fixture" or args.run_cache
                      else trained_once(jobs))
            with shared as run_cache:
                trained = time.perf_counter() - started
                if args.notebooks == "real" and not args.run_cache:
                    print(f"--jobs {jobs}: the course's runs trained once for the grading in {trained:.1f} s")
                grades = grading.grade(names, learners_root=root, notebooks_root=nb_root, jobs=jobs,
                                       cell_timeout=timeout, run_cache=run_cache)
            total = time.perf_counter() - started
            per_learner = (total - trained) / len(names)
            # CPU seconds of every process the grading started (nbval, kernels, training workers): unlike the
            # wall time, this does not grow when other work shares the machine.
            cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
        totals[jobs] = total
        passed = sum(g.counts()["checks_passed"] for g in grades)
        checks = sum(g.counts()["checks_total"] for g in grades)
        notebooks = sum(g.counts()["notebooks"] for g in grades)
        print(f"--jobs {jobs}: {total:7.1f} s total, {per_learner:5.2f} s per learner after the shared runs "
              f"({notebooks} notebooks, checks passed {passed}/{checks}); "
              f"load average {os.getloadavg()[0]:.1f} after")
        print(f"--jobs {jobs}: CPU time of all processes started {cpu:.0f} s ({cpu / len(names):.0f} s per learner, "
              f"shared runs included): on an idle machine at least {cpu / min(jobs, cpus):.0f} s with {min(jobs, cpus)} "
              "busy core(s)")
    first = args.jobs[0]
    for jobs in args.jobs[1:]:
        print(f"speedup --jobs {jobs} vs --jobs {first}: {totals[first] / totals[jobs]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
