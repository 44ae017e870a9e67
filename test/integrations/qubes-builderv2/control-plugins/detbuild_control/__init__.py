"""
Test fixture, the control of test/integrations/qubes-builderv2.test.ts: the deb
build stage done by builderv2 itself, with its own executor (the test configures
`local`) and plain dpkg tools, without the engine. It runs the commands the dpkg
recipe runs in the builder (unpack, `dpkg-buildpackage -us -uc -b`, then the
.buildinfo and .changes of a full upload) and leaves its results where builderv2's
deb build does, so that the same comparison shows what the engine fixes.
"""
from qubesbuilder.executors import ExecutorError
from qubesbuilder.plugins.build import BuildError, BuildPlugin


class ControlDEBBuildPlugin(BuildPlugin):
    name = "detbuild_control"
    stages = ["build"]
    priority = 5
    dist_filter = staticmethod(lambda d: d.is_deb())

    def run(self, **kwargs):
        super().run()
        if not self.has_component_packages(self.stage):
            return
        artifacts_dir = self.get_dist_component_artifacts_dir(self.stage)
        artifacts_dir.mkdir(parents=True, exist_ok=True)
        prep_dir = self.get_dist_component_artifacts_dir(stage="prep")
        build_dir = self.executor.get_build_dir()
        for directory in self.get_parameters(self.stage)["build"]:
            info = self.get_dist_artifacts_info(stage="prep", basename=directory.mangle())
            files = [info["dsc"], info["debian"]] + ([info["orig"]] if info["package-type"] == "quilt" else [])
            stem = info["dsc"][: -len(".dsc")]
            changes = f"{stem}_{self.dist.architecture}.changes"
            buildinfo = f"{stem}_{self.dist.architecture}.buildinfo"
            cmd = [
                f"cd {build_dir}",
                f"dpkg-source -x {info['dsc']} src",
                "cd src",
                "dpkg-buildpackage -us -uc -b",
                "dpkg-genbuildinfo --build=full",
                f"dpkg-genchanges --build=full -sa -O../{changes}",
            ]
            copy_in = [(prep_dir / f, build_dir) for f in files]
            copy_out = [(build_dir / f, artifacts_dir) for f in [changes, buildinfo, *info["packages"]]]
            try:
                self.executor.run(cmd, copy_in, copy_out, environment=self.environment, no_fail_copy_out_allowed_patterns=["-dbgsym_"])
            except ExecutorError as e:
                raise BuildError(f"{self.component}:{self.dist}:{directory}: plain build failed: {e}") from e


PLUGINS = [ControlDEBBuildPlugin]
