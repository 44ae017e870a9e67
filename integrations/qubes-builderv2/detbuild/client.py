"""
Running the qubes-detbuild client (`detbuild remote`), which calls
`qrexec-client-vm TARGET qubes.DetBuild+MODE`, sends the source package and
receives, checks and keeps the results. This module knows the client's command
line and its JSON summary, nothing of builderv2's stages.
"""
import json
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List, Optional

from .settings import DistSettings


@dataclass
class RemoteResult:
    """The client's summary (`detbuild remote --json`), or what stood in for it."""

    status: str
    ok: bool
    message: str
    target: str
    exit_code: int
    out_dir: Optional[Path] = None
    log_path: Optional[Path] = None
    verify: Optional[dict] = None
    artifacts: List[dict] = field(default_factory=list)

    @property
    def verify_report_path(self) -> Optional[Path]:
        """Where the client keeps the verify report (with diffoscope's text)."""
        if self.out_dir is not None and (self.out_dir / "verify.json").exists():
            return self.out_dir / "verify.json"
        return None


def remote_command(settings: DistSettings, sources: Path, out_dir: Path, dsc: Optional[str] = None, srpm: Optional[str] = None, verify: bool = False) -> List[str]:
    cmd = [*settings.client, "remote", str(sources), "--target", settings.target, "--out", str(out_dir), "--json"]
    if dsc is not None:
        cmd += ["--dsc", dsc, "--with-source"]
        if settings.nocheck:
            cmd.append("--nocheck")
    if srpm is not None:
        cmd += ["--srpm", srpm]
    if verify:
        cmd.append("--verify")
    if settings.timeout is not None:
        cmd += ["--timeout", str(settings.timeout)]
    if settings.require_environment is not None:
        cmd += ["--require-environment", settings.require_environment]
    if settings.mode == "plain":
        cmd.append("--plain")
    return cmd


def run_remote(cmd: List[str], target: str, out_dir: Path, on_line: Callable[[str], None]) -> RemoteResult:
    """
    Runs the client; its live log (stderr) goes line by line to on_line, its JSON summary
    (stdout) becomes the result. A client that cannot start, or ends without a summary, is
    a result too (status 'client-error').
    """
    with tempfile.TemporaryFile() as summary:
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=summary, stderr=subprocess.PIPE)
        except OSError as e:
            return RemoteResult(
                status="client-error",
                ok=False,
                message=f"cannot run the qubes-detbuild client '{cmd[0]}': {e.strerror or e} "
                "(install qubes-detbuild in this qube, or set detbuild:client in builder.yml)",
                target=target,
                exit_code=-1,
            )
        last = ""
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if line.strip():
                last = line
            on_line(line)
        rc = proc.wait()
        summary.seek(0)
        text = summary.read().decode("utf-8", "replace")
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or "status" not in data:
            raise ValueError("no status")
    except ValueError:
        # the client refused its arguments or crashed: its last line on stderr says why
        why = last.strip() or f"exit status {rc}, no summary"
        return RemoteResult(status="client-error", ok=False, message=why, target=target, exit_code=rc)
    failed_log = Path(f"{out_dir}.failed.log")
    return RemoteResult(
        status=str(data["status"]),
        ok=bool(data.get("ok")),
        message=str(data.get("message", "")),
        target=target,
        exit_code=rc,
        out_dir=Path(data["outDir"]) if data.get("outDir") else None,
        log_path=Path(data["logPath"]) if data.get("logPath") else (failed_log if failed_log.exists() else None),
        verify=data.get("verify"),
        artifacts=list(data.get("artifacts") or []),
    )


def read_json(path: Path) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)
