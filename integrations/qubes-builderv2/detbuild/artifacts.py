"""
Putting what the builder returned where builderv2's own build stages put it.
Packages are hard-linked from the client's result directory (which stays, with
the builder's record beside them), copied where linking is impossible.
"""
import os
import shutil
from pathlib import Path
from typing import Iterable, List, Sequence, Tuple

# what builderv2's own deb build lets be absent from its predicted package list
DEB_ALLOWED_MISSING = ("-dbgsym_",)
# and its rpm build
RPM_ALLOWED_MISSING = ("-debugsource", "-debuginfo")


class PlacementError(Exception):
    """A file the stage needs did not come back from the builder."""


def link_or_copy(src: Path, dest_dir: Path, copy: bool = False) -> Path:
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / src.name
    if dest.exists() or dest.is_symlink():
        dest.unlink()
    if not copy:
        try:
            os.link(src, dest)
            return dest
        except OSError:
            pass
    shutil.copy2(src, dest)
    return dest


def place(results: Path, dest_dir: Path, required: Sequence[str], predicted: Sequence[str], allowed_missing: Iterable[str]) -> Tuple[List[str], List[str]]:
    """
    Places `required` (all must be there) and the `predicted` packages that were built
    (a missing one is an error unless its name contains an allowed pattern). Returns the
    packages placed and those absent but allowed; raises PlacementError naming the rest.
    """
    allowed = tuple(allowed_missing)
    absent = [name for name in required if not (results / name).is_file()]
    absent += [name for name in predicted if not (results / name).is_file() and not any(p in name for p in allowed)]
    if absent:
        returned = sorted(p.name for p in results.iterdir()) if results.is_dir() else []
        raise PlacementError(f"the builder did not return {', '.join(absent)} (it returned: {', '.join(returned) or 'nothing'})")
    # copies: the sign stage rewrites these (a .changes, a .buildinfo) and the builder's
    # result directory must keep matching its manifest
    for name in required:
        link_or_copy(results / name, dest_dir, copy=True)
    placed, skipped = [], []
    for name in predicted:
        if (results / name).is_file():
            link_or_copy(results / name, dest_dir)
            placed.append(name)
        else:
            skipped.append(name)
    return placed, skipped


def unexpected(results: Path, known: Iterable[str]) -> List[str]:
    """Files the builder returned that the stage did not predict (left out, as builderv2 does)."""
    names = set(known)
    return sorted(p.name for p in results.iterdir() if p.name not in names) if results.is_dir() else []
