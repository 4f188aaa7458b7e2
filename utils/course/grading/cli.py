"""``python -m utils.grading``: the command line of the grader (see ``utils.course.grading``).

    python -m utils.grading --learner José            # one learner (repeatable)
    python -m utils.grading --all                     # every folder under learners/
        [--out grading-out] [--jobs 2] [--timeout 300] [--notebook-timeout 1800]
        [--notebooks notebooks]                       # where the master sources are
        [--run-cache DIR]                             # finished runs to copy into each notebook's cache

Writes the reports into ``--out`` (default ``grading-out/``, which git ignores) and prints one
line per learner, and one per folder ``--all`` leaves out.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from utils.course.grading.learners import grade, learner_folders
from utils.course.grading.report import write_reports
from utils.course.grading.runner import DEFAULT_CELL_TIMEOUT_S, DEFAULT_NOTEBOOK_TIMEOUT_S
from utils.course.learner import LearnerNameError, learners_dir, repo_root

DEFAULT_OUT = "grading-out"
DESCRIPTION = ("Instructor grading: run each learner's notebooks with the hidden checks, "
               "and check their notes.")


def _shown(path: Path) -> str:
    """``path`` relative to the repository when it is inside it (printed lines hold no absolute paths there)."""
    try:
        return path.resolve().relative_to(repo_root()).as_posix()
    except ValueError:
        return path.as_posix()


def main(argv: list[str] | None = None) -> int:
    """Grade the learners named (or all), write the reports, print where they are; 0 on success."""
    parser = argparse.ArgumentParser(prog="python -m utils.grading", description=DESCRIPTION)
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--learner", action="append", help="a learner's name (repeatable)")
    who.add_argument("--all", action="store_true", help="every learner folder under learners/")
    parser.add_argument("--out", type=Path, default=None, help=f"report folder (default {DEFAULT_OUT}/)")
    parser.add_argument("--notebooks", type=Path, default=None,
                        help="folder of the master sources (default notebooks/)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                        help="notebooks graded at once (default: min(2, CPU count))")
    parser.add_argument("--timeout", type=float, default=DEFAULT_CELL_TIMEOUT_S,
                        help=f"seconds per cell (default {DEFAULT_CELL_TIMEOUT_S})")
    parser.add_argument("--notebook-timeout", type=float, default=DEFAULT_NOTEBOOK_TIMEOUT_S,
                        help=f"seconds per notebook in all (default {DEFAULT_NOTEBOOK_TIMEOUT_S})")
    parser.add_argument("--run-cache", type=Path, default=None,
                        help="a trusted folder of finished runs (COURSE_RUN_CACHE of a test session) copied "
                             "into each graded notebook's own run cache, so it does not train them again")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args(argv)
    if args.jobs < 1 or args.timeout <= 0 or args.notebook_timeout <= 0:
        parser.error("--jobs, --timeout and --notebook-timeout must be positive")
    if args.run_cache is not None and not args.run_cache.is_dir():
        parser.error(f"--run-cache {args.run_cache}: not a folder")
    names, skipped = learner_folders(learners_dir()) if args.all else (args.learner, [])
    for line in skipped:
        print(f"skipped {line}")
    if not names:
        parser.error("no learner folders found under learners/")
    out = args.out if args.out is not None else repo_root() / DEFAULT_OUT
    started = time.monotonic()
    try:
        grades = grade(names, notebooks_root=args.notebooks, jobs=args.jobs, cell_timeout=args.timeout,
                       notebook_timeout=args.notebook_timeout, run_cache=args.run_cache,
                       progress=None if args.quiet else lambda m: print(f"  {m}", flush=True))
    except (FileNotFoundError, LearnerNameError) as err:
        parser.error(str(err))
    write_reports(grades, out, skipped)
    for g in grades:
        n = g.counts()
        print(f"{g.learner}: checks {n['checks_passed']}/{n['checks_total']}, notes "
              f"{n['notes_passed']}/{n['notes_total']} -> {_shown(out / (g.learner + '.md'))}")
    print(f"class summary: {_shown(out / 'summary.md')}, {_shown(out / 'summary.csv')} "
          f"({len(grades)} learner(s) in {time.monotonic() - started:.1f} s, --jobs {args.jobs})")
    return 0

