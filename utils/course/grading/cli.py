"""``python -m utils.grading``: the command line of the grader (see ``utils.course.grading``).

    python -m utils.grading --learner José            # one learner (repeatable)
    python -m utils.grading --all                     # every folder under learners/
    python -m utils.grading --all --learners-dir class/learners   # a collected class (python -m utils.hub collect)
        [--out grading-out] [--jobs 2] [--timeout 300] [--notebook-timeout 1800]
        [--notebooks notebooks]                       # where the master sources are
        [--run-cache DIR]                             # finished runs to copy into each notebook's cache
        [--no-shared-runs]                            # each notebook trains its own runs (slow)

Graded against the course's own masters (no ``--notebooks``) and without ``--run-cache``, the course's runs
are trained once for the whole grading (``shared_runs``) and each graded notebook starts from a copy of
them, so a class costs the runs once, not once per learner.

Writes the reports into ``--out`` (default ``grading-out/``, which git ignores) and prints one
line per learner, and one per folder ``--all`` leaves out.
"""

from __future__ import annotations

import argparse
import os
import time
from contextlib import nullcontext
from pathlib import Path

from utils.course.grading.learners import grade, learner_folders
from utils.course.grading.report import write_reports
from utils.course.grading.runner import DEFAULT_CELL_TIMEOUT_S, DEFAULT_NOTEBOOK_TIMEOUT_S
from utils.course.grading.shared_runs import trained_once
from utils.course.learner import LearnerNameError, learners_dir, repo_root, validate_learner_name
from utils.course.notebook_build import notebooks_dir

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
    parser.add_argument("--no-shared-runs", action="store_true",
                        help="without --run-cache: do not train the course's runs once for the whole grading "
                             "(every notebook then trains its own)")
    parser.add_argument("--learners-dir", type=Path, default=None,
                        help="the folder of learner folders to grade (default learners/; e.g. the class folder "
                             "of python -m utils.hub collect)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args(argv)
    if args.jobs < 1 or args.timeout <= 0 or args.notebook_timeout <= 0:
        parser.error("--jobs, --timeout and --notebook-timeout must be positive")
    if args.run_cache is not None and not args.run_cache.is_dir():
        parser.error(f"--run-cache {args.run_cache}: not a folder")
    if args.learners_dir is not None and not args.learners_dir.is_dir():
        parser.error(f"--learners-dir {args.learners_dir}: not a folder")
    root = learners_dir() if args.learners_dir is None else args.learners_dir
    names, skipped = learner_folders(root) if args.all else (args.learner, [])
    for line in skipped:
        print(f"skipped {line}")
    if not names:
        parser.error(f"no learner folders found under {_shown(root)}/")
    out = args.out if args.out is not None else repo_root() / DEFAULT_OUT
    started = time.monotonic()
    for name in names:      # before any training: a wrong name is told at once
        try:
            if not (root / validate_learner_name(name)).is_dir():
                parser.error(f"no folder learners/{validate_learner_name(name)}/")
        except LearnerNameError as err:
            parser.error(str(err))
    progress = None if args.quiet else lambda m: print(f"  {m}", flush=True)
    # the course's runs, trained once for the class, when grading against the course's own masters
    own_masters = args.notebooks is None or args.notebooks.resolve() == notebooks_dir().resolve()
    shared = (nullcontext(args.run_cache) if args.run_cache is not None or args.no_shared_runs or not own_masters
              else trained_once(args.jobs, progress))
    try:
        with shared as run_cache:
            grades = grade(names, learners_root=root, notebooks_root=args.notebooks, jobs=args.jobs,
                           cell_timeout=args.timeout, notebook_timeout=args.notebook_timeout,
                           run_cache=run_cache, progress=progress)
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

