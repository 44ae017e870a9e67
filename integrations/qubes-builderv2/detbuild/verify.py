"""
The `verify` stage (builderv2 has no plugin of its own for it), for the deb
distributions built through qubes.DetBuild: the source package from the prep
stage is built again through `qubes.DetBuild+verify`, twice in the builder under
different real conditions. The stage fails when the two builds differ (with
diffoscope's summary under the error) or when they agree with each other but not
with the packages the build stage made (which sign and publish would ship).
"""
import hashlib
import shutil
import subprocess
from pathlib import Path
from typing import List

from qubesbuilder.plugins import JobDependency, JobReference, Plugin, PluginContext, PluginError

from .client import RemoteResult, read_json, remote_command
from .deb import deb_source_files
from .errors import remote_error
from .remote_stage import RemoteStageMixin

REPORT_LINES = 40


class VerifyError(PluginError):
    """The verify stage's error: the packages are not what a rebuild gives."""


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def report_info(report: Path) -> dict:
    """builderv2's additional_info: the head of a text report."""
    lines = report.read_text(encoding="utf-8", errors="replace").splitlines()
    return {"log_file": str(report), "start_line": 1, "lines": lines[:REPORT_LINES]} if lines else {}


class DetBuildVerifyPlugin(RemoteStageMixin, Plugin):
    name = "detbuild_verify"
    stages = ["verify"]
    priority = 5
    context = PluginContext.COMPONENT | PluginContext.DIST
    dist_filter = staticmethod(lambda d: d.is_deb() or d.is_ubuntu())

    def __init__(self, component, dist, config, stage, **kwargs):
        super().__init__(component=component, dist=dist, config=config, stage=stage)
        for stage_name in ("prep", "build"):
            self.dependencies.append(JobDependency(JobReference(component=self.component, dist=self.dist, template=None, stage=stage_name, build=None)))

    @classmethod
    def matches(cls, **kwargs) -> bool:
        component = kwargs.get("component")
        if component and not component.has_packages:
            return False
        return super().matches(**kwargs)

    def run(self, **kwargs):
        super().run()
        if not self.has_component_packages(self.stage):
            return
        verify_dir = self.get_dist_component_artifacts_dir(self.stage)
        if verify_dir.exists():
            shutil.rmtree(verify_dir)
        verify_dir.mkdir(parents=True)
        for directory in self.get_parameters(self.stage)["build"]:
            self.verify_one(directory, verify_dir)

    def verify_one(self, directory, verify_dir: Path):
        prefix = f"{self.component}:{self.dist}:{directory}"
        basename = directory.mangle()
        build_info = self.get_dist_artifacts_info(stage="build", basename=basename)
        if not build_info.get("packages"):
            raise VerifyError(f"{prefix}: no packages from the build stage to verify. Missing 'build' stage call?")
        source_info = self.get_dist_artifacts_info(stage="prep", basename=basename)
        source_files = deb_source_files(source_info, VerifyError, prefix)
        out_dir = verify_dir / f"{basename}.detbuild"
        prep_dir = self.get_dist_component_artifacts_dir(stage="prep")
        with self.staged_sources(prep_dir, source_files, VerifyError, prefix) as sources:
            result = self.call_builder(remote_command(self.detbuild, sources, out_dir, dsc=source_info["dsc"], verify=True), out_dir)
        if result.status == "not-reproducible":
            raise self.not_reproducible(prefix, result, out_dir, verify_dir / f"{basename}.diffoscope.txt")
        if not result.ok:
            raise remote_error(VerifyError, prefix, result, marker="dpkg-buildpackage: error:")
        mismatch = self.builder_mismatch(out_dir)
        if mismatch:
            raise VerifyError(f"{prefix}: {mismatch}")

        build_dir = self.get_dist_component_artifacts_dir(stage="build")
        differ = [p for p in build_info["packages"] if not (out_dir / "artifacts" / p).is_file() or sha256(out_dir / "artifacts" / p) != sha256(build_dir / p)]
        if differ:
            raise self.differs_from_build(prefix, differ, build_info, out_dir, build_dir, verify_dir / f"{basename}.diffoscope.txt")
        self.log.info(f"{prefix}: reproducible: two builds in {self.detbuild.target} and the build stage agree on {', '.join(build_info['packages'])}")
        self.save_dist_artifacts_info(
            stage=self.stage,
            basename=basename,
            info={
                "identical": True,
                "packages": build_info["packages"],
                "source-hash": self.component.get_source_hash(),
                "detbuild": self.record_summary(out_dir),
            },
        )

    def not_reproducible(self, prefix: str, result: RemoteResult, out_dir: Path, report: Path) -> VerifyError:
        verify_json = Path(f"{out_dir}.verify.json")
        text = ""
        try:
            data = read_json(verify_json)
            text = data.get("diffoscope") or ""
            if not text:
                text = "\n".join(f"differs: {d.get('path')}" for d in data.get("differences", []))
        except (OSError, ValueError):
            pass
        report.write_text(text or "(no report)\n", encoding="utf-8")
        message = f"{prefix}: not reproducible: {result.message} (diffoscope's report: {report})"
        return VerifyError(message, additional_info=report_info(report))

    def differs_from_build(self, prefix: str, differ: List[str], build_info: dict, out_dir: Path, build_dir: Path, report: Path) -> VerifyError:
        then = (build_info.get("detbuild") or {}).get("environment-sha256")
        now = self.record_summary(out_dir).get("environment-sha256")
        why = "the builder's environment changed since the build stage" if then and now and then != now else "same builder environment"
        lines: List[str] = []
        diffoscope = shutil.which("diffoscope")
        for name in differ:
            if diffoscope and (out_dir / "artifacts" / name).is_file():
                r = subprocess.run([diffoscope, "--text", "-", str(build_dir / name), str(out_dir / "artifacts" / name)], capture_output=True, text=True, timeout=600)
                lines += r.stdout.splitlines()
            else:
                lines.append(f"differs: {name}")
        report.write_text("\n".join(lines) + "\n", encoding="utf-8")
        message = f"{prefix}: the rebuilds agree with each other but not with the build stage's {', '.join(differ)} ({why}; report: {report})"
        return VerifyError(message, additional_info=report_info(report))
