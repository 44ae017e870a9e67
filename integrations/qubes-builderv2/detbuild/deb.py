"""
The deb build through qubes.DetBuild: for the distributions builder.yml selects,
it replaces builderv2's pbuilder build. It takes the source package that
builderv2's prep stage made, has the builder build it with the dpkg recipe
(`detbuild remote --dsc X.dsc --with-source`), and leaves the .debs, the
.buildinfo, the .changes and the stage's info file where builderv2's own deb
build leaves them, so that its sign, publish and upload stages work unchanged.
The builder's record (environment.buildinfo, provenance.intoto.json,
record.json, manifest.json, build.log) stays beside them in
`<directory>.detbuild/`.
"""
import shutil

from qubesbuilder.plugins.build import BuildError, BuildPlugin

from .artifacts import DEB_ALLOWED_MISSING, unexpected
from .build_stage import RemoteBuildStage


def deb_source_files(source_info: dict, error_cls, prefix: str) -> list:
    """The prep stage's source package: .dsc, debian tarball, and the orig tarball of a quilt package."""
    kind = source_info.get("package-type")
    if not kind:
        raise error_cls(f"{prefix}: cannot determine the source type. Missing 'prep' stage call?")
    keys = ["dsc", "debian"] + (["orig"] if kind == "quilt" else [])
    missing = [k for k in keys if not source_info.get(k)]
    if missing:
        raise error_cls(f"{prefix}: the prep stage recorded no {', '.join(missing)} source file")
    return [source_info[k] for k in keys]


class DetBuildDEBBuildPlugin(RemoteBuildStage, BuildPlugin):
    """builderv2's `build` stage of a deb distribution, done by qubes.DetBuild."""

    name = "detbuild_deb"
    stages = ["build"]
    priority = 5
    dist_filter = staticmethod(lambda d: d.is_deb() or d.is_ubuntu())

    def build_one(self, directory, prep_dir, artifacts_dir, repository_dir, source_hash):
        # builderv2's own helper, so the local repository looks as after its pbuilder build
        from qubesbuilder.plugins.build_deb import provision_local_repository

        prefix = f"{self.component}:{self.dist}:{directory}"
        basename = directory.mangle()
        source_info = self.get_dist_artifacts_info(stage="prep", basename=basename)
        source_files = deb_source_files(source_info, BuildError, prefix)
        dsc = source_info["dsc"]
        changes = dsc[: -len(".dsc")] + f"_{self.dist.architecture}.changes"
        buildinfo = dsc[: -len(".dsc")] + f"_{self.dist.architecture}.buildinfo"
        out_dir = artifacts_dir / f"{basename}.detbuild"

        results = self.build_remotely(prep_dir, source_files, out_dir, prefix, "dpkg-buildpackage: error:", dsc=dsc)
        packages, absent = self.place_packages(prefix, results, artifacts_dir, [changes, buildinfo], source_info.get("packages", []), DEB_ALLOWED_MISSING)
        for name in absent:
            self.log.info(f"{prefix}: {name} was not built (allowed)")
        extra = unexpected(results, [changes, buildinfo, *packages])
        if extra:
            self.log.warning(f"{prefix}: left out what prep did not predict: {', '.join(extra)}")
        # the source package as prep made it, as builderv2 keeps it beside the build
        for name in source_files:
            shutil.copy2(prep_dir / name, artifacts_dir / name)

        source_info["changes"] = changes
        source_info["buildinfo"] = buildinfo
        provision_local_repository(
            log=self.log,
            debian_directory=directory,
            repository_dir=repository_dir,
            component=self.component,
            dist=self.dist,
            source_info=source_info,
            packages_list=packages,
            build_artifacts_dir=artifacts_dir,
        )
        info = dict(source_info)
        info.update(
            {
                "files": packages + [changes, buildinfo, source_info["dsc"], source_info["debian"]],
                "packages": packages,
                "source-hash": source_hash,
                "detbuild": self.record_summary(out_dir),
            }
        )
        self.save_dist_artifacts_info(stage=self.stage, basename=basename, info=info)
        self.log.info(f"{prefix}: built by qubes.DetBuild in {self.detbuild.target}: {', '.join(packages)}")
