"""A whole class on JupyterHub: each learner's own course folder, and the instructor's collection.

The course itself (``utils/``, the masters in ``notebooks/``, ``theory/``) is one shared install that
its users need not be able to write. Each hub user gets a writable *course home* of their own
(``utils.course.learner.course_home``: ``$COURSE_HOME``, on a hub ``~/course`` by default)::

    ~/course/
      notebooks -> <install>/notebooks     the start page and the masters (read-only, a link)
      theory    -> <install>/theory        the theory texts (read-only, a link)
      learners/<login>/phase-NN/*.ipynb    the user's own notebook copies (stubs), and their notes
      .run-cache/                          the user's own run cache (COURSE_RUN_CACHE), never shared

``provision`` makes it; it runs every time the user's server starts (``scripts/hub-singleuser.sh``,
the command a JupyterHub spawner starts) and never overwrites anything the user has: a notebook copy
that exists is kept (``utils.course.learner_copies``), a name already taken in the course home is left
alone. ``collect`` is the instructor's side: it copies ``<homes>/<login>/course/learners/<login>/`` of
every user into one folder, ``<out>/<login>/``, that ``python -m utils.grading --all --learners-dir
<out>`` grades. It only reads the homes. Only the folder named for the home's own user is taken, so
a folder a user made for someone else in their own course home is never collected as that person's.

    python -m utils.hub provision                                   # in a user's server (the hook does it)
    python -m utils.hub collect --homes /home --out class/learners  # the instructor, then grade
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from utils.course.learner import (LearnerNameError, course_home, hub_user, repo_root, validate_learner_name)
from utils.course.learner_copies import make_learner_copies

LINKED = ("notebooks", "theory")      # read-only parts of the install shown in each course home
RUN_CACHE_FOLDER = ".run-cache"       # the user's own run cache, inside their course home
COURSE_FOLDER = "course"              # where a home keeps its course home (``~/course``)


@dataclass(frozen=True)
class Provisioned:
    """What ``provision`` did: the course home, and one line per thing made or kept."""

    home: Path
    lines: list[str]


def provision(user: str | None = None, home: Path | None = None, install: Path | None = None) -> Provisioned:
    """Make (or complete) ``user``'s course home: links to the read-only install, their notebook copies.

    ``user`` defaults to the hub login (``$JUPYTERHUB_USER``), ``home`` to ``course_home()``, ``install``
    to the course's own folder. Safe to run at every start: nothing the user has is overwritten.
    """
    name = validate_learner_name(user) if user is not None else hub_user()
    if name is None:
        raise LearnerNameError("provision: no user (pass --user, or run it in a JupyterHub server, "
                               "where JUPYTERHUB_USER is set)")
    root = course_home() if home is None else Path(home)
    source = repo_root() if install is None else Path(install)
    root.mkdir(parents=True, exist_ok=True)
    lines = []
    for part in LINKED:
        link = root / part
        if link.is_symlink() and Path(os.path.realpath(link)) == Path(os.path.realpath(source / part)):
            continue
        if link.exists() or link.is_symlink():
            lines.append(f"kept {part}: something else of that name is there already")
            continue
        link.symlink_to(source / part, target_is_directory=True)
        lines.append(f"linked {part} -> the course's {part}/ (read-only)")
    (root / RUN_CACHE_FOLDER).mkdir(mode=0o700, exist_ok=True)
    for result in make_learner_copies(name, learners_root=root / "learners",
                                      notebooks_root=source / "notebooks"):
        if result.status != "kept":
            lines.append(f"{result.status}: learners/{name}/{result.path.parent.name}/{result.path.name}")
    return Provisioned(root, lines)


@dataclass(frozen=True)
class Collected:
    """What ``collect`` did: the logins collected, and one line per home left out, saying why."""

    learners: list[str]
    skipped: list[str]


def _copy_replacing(src: Path, dest: Path) -> None:
    """Copy the folder ``src`` to ``dest`` (links copied as links, never followed), replacing an earlier
    collected copy only once the new one is complete."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".collecting-{dest.name}-", dir=dest.parent))
    try:
        shutil.copytree(src, staging / "copy", symlinks=True)
        if dest.exists():
            old = dest.with_name(f".old-{dest.name}")
            dest.rename(old)
            (staging / "copy").rename(dest)
            shutil.rmtree(old)
        else:
            (staging / "copy").rename(dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def collect(homes: Path, out: Path, users: list[str] | None = None,
            course_folder: str = COURSE_FOLDER) -> Collected:
    """Copy each user's ``<homes>/<login>/<course_folder>/learners/<login>/`` to ``<out>/<login>/``.

    ``users``: only these logins (default: every folder under ``homes``). The homes are only read.
    """
    homes, out = Path(homes), Path(out)
    wanted = None if users is None else {validate_learner_name(u) for u in users}
    learners, skipped = [], []
    candidates = sorted(p.name for p in homes.iterdir() if p.is_dir()) if homes.is_dir() else []
    for missing in sorted((wanted or set()) - set(candidates)):
        skipped.append(f"{missing}: no home folder {missing}/ under the homes folder")
    for login in candidates:
        if wanted is not None and login not in wanted:
            continue
        try:
            name = validate_learner_name(login)
        except LearnerNameError as err:
            skipped.append(f"{login!r}: not collected, not a learner name: {err}")
            continue
        if name != login:
            skipped.append(f"{login!r}: not collected, the folder is not written as the name {name!r}")
            continue
        src = homes / login / course_folder / "learners" / login
        if src.is_symlink() or not src.is_dir():
            skipped.append(f"{login}: nothing to collect (no folder {course_folder}/learners/{login}/ in "
                           "the home; the user has not started the course)")
            continue
        _copy_replacing(src, out / login)
        learners.append(login)
    return Collected(learners, skipped)


def main(argv: list[str] | None = None) -> int:
    """``python -m utils.hub provision | collect``; 0 on success."""
    parser = argparse.ArgumentParser(prog="python -m utils.hub", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    prov = sub.add_parser("provision", help="make this user's course home (run at every server start)")
    prov.add_argument("--user", help="the learner (default: the hub login, $JUPYTERHUB_USER)")
    prov.add_argument("--home", type=Path, help="the course home (default: $COURSE_HOME, on a hub ~/course)")
    coll = sub.add_parser("collect", help="copy every user's learners/<login>/ into one folder to grade")
    coll.add_argument("--homes", type=Path, required=True,
                      help="the folder of the users' homes, one per login (e.g. /home)")
    coll.add_argument("--out", type=Path, required=True, help="the class folder (then: grading --learners-dir)")
    coll.add_argument("--user", action="append", help="only this login (repeatable)")
    coll.add_argument("--course-folder", default=COURSE_FOLDER,
                      help=f"each home's course home, relative to it (default {COURSE_FOLDER})")
    args = parser.parse_args(argv)
    try:
        if args.command == "provision":
            done = provision(args.user, args.home)
            for line in done.lines:
                print(f"[course] {line}")
            print(f"[course] course home ready: {done.home}")
            return 0
        result = collect(args.homes, args.out, args.user, args.course_folder)
    except (LearnerNameError, OSError) as err:
        parser.error(str(err))
    for line in result.skipped:
        print(f"skipped {line}")
    for login in result.learners:
        print(f"collected {login} -> {args.out / login}")
    print(f"{len(result.learners)} learner(s) collected into {args.out}; grade them with: "
          f"python -m utils.grading --all --learners-dir {args.out}")
    return 0
