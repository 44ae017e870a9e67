"""
A failed call of qubes.DetBuild as the error of the builderv2 stage that made it:
the stage's own exception class (BuildError, or a PluginError in verify), one line
with the builder's cause, and the relevant lines of the build log as builderv2's
`additional_info` (printed under the error, never a traceback).
"""
from pathlib import Path
from typing import Optional, Type

from qubesbuilder.common import extract_lines_before

from .client import RemoteResult

HINTS = {
    "policy-denied": "dom0 must let this qube call qubes.DetBuild: tag it detbuild-client (see QUBES-BUILDER.md)",
}


def _hint(result: RemoteResult) -> str:
    return HINTS.get(result.status, "")


def _cause(result: RemoteResult) -> str:
    message = result.message
    if message.startswith("request refused: "):
        message = message[len("request refused: "):]
    return message


def log_excerpt(log: Optional[Path], marker: Optional[str], lines: int = 12) -> dict:
    """builderv2's additional_info: the lines before `marker` in the log, else its last lines."""
    if log is None or not log.exists():
        return {}
    if marker:
        found, start = extract_lines_before(log, marker, num_lines_before=lines, max_split=0)
        if found and start:
            return {"log_file": str(log), "start_line": start, "lines": found}
    with open(log, encoding="utf-8", errors="replace") as f:
        text = f.read().splitlines()
    if not text:
        return {}
    start = max(len(text) - lines, 0)
    return {"log_file": str(log), "start_line": start + 1, "lines": text[start:]}


def remote_error(error_cls: Type[Exception], prefix: str, result: RemoteResult, marker: Optional[str] = None) -> Exception:
    hint = _hint(result)
    message = f"{prefix}: qubes.DetBuild in {result.target} ({result.status}): {_cause(result)}{f'; {hint}' if hint else ''}"
    return error_cls(message, additional_info=log_excerpt(result.log_path, marker))
