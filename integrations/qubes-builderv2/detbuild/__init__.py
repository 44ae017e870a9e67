"""
qubes-detbuild's plugin for qubes-builderv2: the package builds of the
distributions listed under `detbuild:distributions` in builder.yml go to
`qubes.DetBuild` in a builder qube (default `@dispvm:detbuild-dvm`) instead of
pbuilder or mock, so that they come out bit-for-bit the same for everyone.

Installed by configuration only: add the directory that holds this package to
`plugins-dirs` in builder.yml (docs/QUBES-BUILDER.md). Its plugins have
priority 5, below builderv2's own (10), so builderv2 picks them first for the
stages and distributions they match, and its own everywhere else.
"""
from .cache import DetBuildDEBCachePlugin
from .deb import DetBuildDEBBuildPlugin
from .rpm import DetBuildRPMBuildPlugin
from .verify import DetBuildVerifyPlugin

PLUGINS = [DetBuildDEBCachePlugin, DetBuildDEBBuildPlugin, DetBuildRPMBuildPlugin, DetBuildVerifyPlugin]
