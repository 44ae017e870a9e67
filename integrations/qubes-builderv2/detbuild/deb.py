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

from .artifacts import DEB_ALLOWED_MISSING, PlacementError, place, unexpected
from .client import remote_command
from .errors import remote_error
from .remote_stage import RemoteStageMixin
from .settings import selected


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


class DetBuildDEBBuildPlugin(RemoteStageMixin, BuildPlugin):
    """builderv2's `build` stage of a deb distribution, done by qubes.DetBuild."""

    name = "detbuild_deb"
    stages = ["build"]
    priority = 5
    dist_filter = staticmethod(lambda d: d.is_deb() or d.is_ubuntu())

    @classmethod
    def matches(cls, **kwargs) -> bool:
        return super().matches(**kwargs) and selected(kwargs["config"], kwargs["dist"].distribution)

    def run(self, **kwargs):
        super().run()
        if not self.has_component_packages(self.stage):
            return
        parameters = self.get_parameters(self.stage)
        artifacts_dir = self.get_dist_component_artifacts_dir(self.stage)
        source_hash = self.component.get_source_hash()
        if all(
            source_hash == self.get_dist_artifacts_info(stage=self.stage, basename=d.mangle()).get("source-hash")
            for d in parameters["build"]
        ):
            self.log.info(f"{self.component}:{self.dist}: Source hash is the same than already built source. Skipping.")
            return
        if artifacts_dir.exists():
            shutil.rmtree(artifacts_dir)
        artifacts_dir.mkdir(parents=True)
        prep_dir = self.get_dist_component_artifacts_dir(stage="prep")
        repository_dir = self.config.repository_dir / self.dist.distribution
        repository_dir.mkdir(parents=True, exist_ok=True)
        for old in repository_dir.glob(f"{self.component.name}_*"):
            shutil.rmtree(old)
        for directory in parameters["build"]:
            self.build_one(directory, prep_dir, artifacts_dir, repository_dir, source_hash)

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

        with self.staged_sources(prep_dir, source_files, BuildError, prefix) as sources:
            result = self.call_builder(remote_command(self.detbuild, sources, out_dir, dsc=dsc), out_dir)
        if not result.ok:
            raise remote_error(BuildError, prefix, result, marker="dpkg-buildpackage: error:")
        mismatch = self.builder_mismatch(out_dir)
        if mismatch:
            raise BuildError(f"{prefix}: {mismatch}; give {self.dist.distribution} a builder of its own (detbuild:distributions:{self.dist.distribution}:target)")

        results = out_dir / "artifacts"
        try:
            packages, absent = place(results, artifacts_dir, [changes, buildinfo], source_info.get("packages", []), DEB_ALLOWED_MISSING)
        except PlacementError as e:
            raise BuildError(f"{prefix}: {e}") from None
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
