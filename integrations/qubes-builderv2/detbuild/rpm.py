"""
The rpm build through qubes.DetBuild: for the rpm distributions builder.yml
selects, builderv2's mock build is replaced by the RPM recipe
(`detbuild remote DIR --srpm X.src.rpm`) on the source RPM its prep stage made.
The RPMs, the recipe's .buildinfo (NAME-VERSION-RELEASE.ARCH.buildinfo, in
rpmbuildinfo's format) and the source RPM go to `<build>/rpm/` as after
builderv2's own rpm build.

A client without the RPM recipe (no `--srpm` in `detbuild remote --help`) ends the
stage with a clear error: a distribution selected here never falls back to mock.
"""
import subprocess

from qubesbuilder.plugins.build import BuildError, BuildPlugin

from .artifacts import RPM_ALLOWED_MISSING, link_or_copy
from .build_stage import RemoteBuildStage


def client_has_rpm_recipe(client) -> bool:
    try:
        r = subprocess.run([*client, "remote", "--help"], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "--srpm" in r.stdout


class DetBuildRPMBuildPlugin(RemoteBuildStage, BuildPlugin):
    """builderv2's `build` stage of an rpm distribution, done by qubes.DetBuild."""

    name = "detbuild_rpm"
    stages = ["build"]
    priority = 5
    dist_filter = staticmethod(lambda d: d.is_rpm())

    def check_client(self) -> None:
        settings = self.detbuild
        if not client_has_rpm_recipe(settings.client):
            raise BuildError(
                f"{self.component}:{self.dist}: the qubes-detbuild client '{' '.join(settings.client)}' has no RPM recipe "
                f"(detbuild remote --srpm); install a qubes-detbuild with it, or remove {self.dist.distribution} "
                "from detbuild:distributions in builder.yml to build it with mock"
            )

    def build_one(self, build, prep_dir, artifacts_dir, repository_dir, source_hash):
        from qubesbuilder.plugins.build_rpm import provision_local_repository

        prefix = f"{self.component}:{self.dist}:{build}"
        basename = build.mangle()
        source_info = self.get_dist_artifacts_info(stage="prep", basename=basename)
        srpm = source_info.get("srpm")
        if not srpm:
            raise BuildError(f"{prefix}: cannot find the SRPM. Missing 'prep' stage call?")
        buildinfo = srpm.replace(".src.rpm", f".{self.dist.architecture}.buildinfo")
        out_dir = artifacts_dir / f"{basename}.detbuild"
        results = self.build_remotely(prep_dir, [srpm], out_dir, prefix, "error: ", srpm=srpm)
        rpm_dir = artifacts_dir / "rpm"
        rpm_dir.mkdir(exist_ok=True)
        # the RPM recipe names its .buildinfo (rpmbuildinfo's format) as builderv2 does
        packages, _ = self.place_packages(prefix, results, rpm_dir, [buildinfo], source_info.get("rpms", []), RPM_ALLOWED_MISSING)
        link_or_copy(prep_dir / srpm, rpm_dir)
        info = {
            "srpm": srpm,
            "rpms": packages,
            "buildinfo": buildinfo,
            "source-hash": source_hash,
            "files": [f"rpm/{f}" for f in packages + [buildinfo, srpm]],
            "detbuild": self.record_summary(out_dir),
        }
        provision_local_repository(
            log=self.log,
            build=build,
            component=self.component,
            dist=self.dist,
            repository_dir=repository_dir,
            source_info=info,
            packages_list=packages,
            prep_artifacts_dir=prep_dir,
            build_artifacts_dir=artifacts_dir,
        )
        self.save_dist_artifacts_info(stage=self.stage, basename=basename, info=info)
