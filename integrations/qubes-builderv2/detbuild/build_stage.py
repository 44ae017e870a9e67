"""
What the deb and rpm build stages share: skipping sources already built, a fresh
artifacts directory and local repository entry, sending the prep stage's source
package to the builder and checking what comes back, and placing the packages
where builderv2's own build would leave them. Each stage keeps only what differs:
which files it sends, which recipe, and builderv2's info file of its kind.
"""
import shutil
from pathlib import Path
from typing import List, Tuple

from qubesbuilder.plugins.build import BuildError

from .artifacts import PlacementError, place
from .client import remote_command
from .errors import remote_error
from .remote_stage import RemoteStageMixin


class RemoteBuildStage(RemoteStageMixin):
    """Mixed into builderv2's BuildPlugin subclasses (its stage, parameters and artifact info): their run()."""

    def run(self, **kwargs):
        super().run()  # type: ignore[misc]
        if not self.has_component_packages(self.stage):  # type: ignore[attr-defined]
            return
        self.check_client()
        artifacts_dir = self.get_dist_component_artifacts_dir(self.stage)  # type: ignore[attr-defined]
        source_hash = self.component.get_source_hash()  # type: ignore[attr-defined]
        builds = self.get_parameters(self.stage)["build"]  # type: ignore[attr-defined]
        if all(source_hash == self.get_dist_artifacts_info(stage=self.stage, basename=b.mangle()).get("source-hash") for b in builds):  # type: ignore[attr-defined]
            self.log.info(f"{self.component}:{self.dist}: Source hash is the same than already built source. Skipping.")  # type: ignore[attr-defined]
            return
        if artifacts_dir.exists():
            shutil.rmtree(artifacts_dir)
        artifacts_dir.mkdir(parents=True)
        prep_dir = self.get_dist_component_artifacts_dir(stage="prep")  # type: ignore[attr-defined]
        repository_dir = self.config.repository_dir / self.dist.distribution  # type: ignore[attr-defined]
        repository_dir.mkdir(parents=True, exist_ok=True)
        for old in repository_dir.glob(f"{self.component.name}_*"):  # type: ignore[attr-defined]
            shutil.rmtree(old)
        for build in builds:
            self.build_one(build, prep_dir, artifacts_dir, repository_dir, source_hash)

    def check_client(self) -> None:
        """Raises BuildError when the client cannot make this stage's builds (default: it can)."""

    def build_one(self, build, prep_dir: Path, artifacts_dir: Path, repository_dir: Path, source_hash: str) -> None:
        """One build of the component: its source package sent, its packages placed, builderv2's info file written."""
        raise NotImplementedError

    def build_remotely(self, prep_dir: Path, names: List[str], out_dir: Path, prefix: str, marker: str, **recipe) -> Path:
        """The prep stage's NAMES built by the builder with RECIPE (dsc= or srpm=) into out_dir; its artifacts directory."""
        with self.staged_sources(prep_dir, names, BuildError, prefix) as sources:
            result = self.call_builder(remote_command(self.detbuild, sources, out_dir, **recipe), out_dir)
        if not result.ok:
            raise remote_error(BuildError, prefix, result, marker=marker)
        mismatch = self.builder_mismatch(out_dir)
        if mismatch:
            raise BuildError(f"{prefix}: {mismatch}; give {self.dist.distribution} a builder of its own (detbuild:distributions:{self.dist.distribution}:target)")  # type: ignore[attr-defined]
        return out_dir / "artifacts"

    @staticmethod
    def place_packages(prefix: str, results: Path, dest: Path, build_files: List[str], predicted: List[str], allowed_missing) -> Tuple[List[str], List[str]]:
        """The built packages moved to dest as builderv2 names them (placed, allowed absent), or BuildError."""
        try:
            return place(results, dest, build_files, predicted, allowed_missing)
        except PlacementError as e:
            raise BuildError(f"{prefix}: {e}") from None
