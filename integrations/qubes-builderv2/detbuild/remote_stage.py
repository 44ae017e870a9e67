"""
What every stage of this plugin shares: which distributions it takes, its settings, staging the source package
that builderv2's prep stage made, calling the builder with its live log in
builderv2's log, and checking that the builder runs the distribution asked for.
"""
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List, Optional

from .artifacts import link_or_copy
from .client import RemoteResult, read_json, run_remote
from .settings import DistSettings, selected, settings_for

STAGE_LINE = re.compile(r"^\d\d:\d\d:\d\d (\[[ab]\] )?\[")


class RemoteStageMixin:
    """Mixed into builderv2 Plugin subclasses (self.config, self.dist, self.component, self.log)."""

    @classmethod
    def matches(cls, **kwargs) -> bool:
        """builderv2's own match, for the distributions detbuild:distributions in builder.yml selects."""
        return super().matches(**kwargs) and selected(kwargs["config"], kwargs["dist"].distribution)  # type: ignore[misc]

    @property
    def detbuild(self) -> DistSettings:
        return settings_for(self.config, self.dist.distribution)  # type: ignore[attr-defined]

    @contextmanager
    def staged_sources(self, prep_dir: Path, names: List[str], error_cls, prefix: str) -> Iterator[Path]:
        """A directory holding exactly the source package: what the builder receives."""
        self.config.temp_dir.mkdir(parents=True, exist_ok=True)  # type: ignore[attr-defined]
        with tempfile.TemporaryDirectory(dir=self.config.temp_dir, prefix="detbuild-") as tmp:  # type: ignore[attr-defined]
            sources = Path(tmp) / "source"
            sources.mkdir()
            for name in names:
                if not (prep_dir / name).is_file():
                    raise error_cls(f"{prefix}: cannot find {name} from the prep stage in {prep_dir}. Missing 'prep' stage call?")
                link_or_copy(prep_dir / name, sources)
            yield sources

    def call_builder(self, cmd: List[str], out_dir: Path) -> RemoteResult:
        settings = self.detbuild
        self.log.info(f"{self.component}:{self.dist}: building in {settings.target} through qubes.DetBuild")  # type: ignore[attr-defined]

        def on_line(line: str) -> None:
            if STAGE_LINE.match(line):
                self.log.info(line)  # type: ignore[attr-defined]
            else:
                self.log.debug(line)  # type: ignore[attr-defined]

        return run_remote(cmd, settings.target, out_dir, on_line)

    def builder_mismatch(self, out_dir: Path) -> Optional[str]:
        """Why the builder's record says it is not the distribution asked for, or None."""
        try:
            os_release = read_json(out_dir / "record.json")["environment"]["osRelease"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        dist = self.dist  # type: ignore[attr-defined]
        pretty = os_release.get("PRETTY_NAME", os_release.get("ID", "?"))
        if dist.type == "deb":
            codename = os_release.get("VERSION_CODENAME")
            if codename and codename != dist.name:
                return f"the builder in {self.detbuild.target} runs {pretty} ({codename}), not {dist.name}"
        elif dist.type == "rpm":
            if os_release.get("ID") != dist.fullname or os_release.get("VERSION_ID") != dist.version:
                return f"the builder in {self.detbuild.target} runs {pretty}, not {dist.fullname} {dist.version}"
        return None

    def record_summary(self, out_dir: Path) -> dict:
        """What the stage's info file keeps about the builder (the full record stays in out_dir)."""
        try:
            record = read_json(out_dir / "record.json")
        except (OSError, ValueError):
            return {"target": self.detbuild.target, "result": str(out_dir)}
        return {
            "target": self.detbuild.target,
            "result": str(out_dir),
            "record-sha256": record.get("sha256"),
            "environment-sha256": record.get("environmentSha256"),
        }
