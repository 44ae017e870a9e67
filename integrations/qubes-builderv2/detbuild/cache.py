"""
The `init-cache` stage of a deb distribution built through qubes.DetBuild.
builderv2's own creates a pbuilder chroot (`sudo pbuilder create`, debootstrap
from the network) that only its pbuilder build uses; the builds of these
distributions happen in the builder qube, whose installed packages are the
build environment, so there is nothing to create here. The stage records that,
so that the prep stage, which depends on it, runs as usual.
"""
from qubesbuilder.plugins import PluginContext
from qubesbuilder.plugins.chroot import ChrootPlugin

from .remote_stage import RemoteStageMixin


class DetBuildDEBCachePlugin(RemoteStageMixin, ChrootPlugin):
    name = "detbuild_cache"
    stages = ["init-cache"]
    priority = 5
    context = PluginContext.DIST
    dist_filter = staticmethod(lambda d: d.is_deb() or d.is_ubuntu())

    def run(self, **kwargs):
        target = self.detbuild.target
        chroot_dir = self.config.cache_dir / "chroot" / self.dist.distribution / self.dist.nva
        # the keys (and the empty pbuilder directory) builderv2's chroot_deb keeps, so that
        # it reuses or recreates this entry if the distribution later leaves
        # detbuild:distributions; its pbuilder build creates a chroot when none is cached
        (chroot_dir / "pbuilder").mkdir(parents=True, exist_ok=True)
        info = {"packages": [], "install-packages": False, "detbuild": {"target": target}}
        self.save_artifacts_info(stage=self.stage, basename=self.dist.nva, info=info, artifacts_dir=chroot_dir)
        self.log.info(f"{self.dist}: no pbuilder chroot: package builds go to qubes.DetBuild in {target}")
