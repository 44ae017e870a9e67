"""
The `detbuild:` section of builder.yml: which distributions build through
qubes.DetBuild, in which builder qube, with which client.

    detbuild:
      client: detbuild                  # the qubes-detbuild client (a command or a list)
      target: "@dispvm:detbuild-dvm"    # default builder for every distribution below
      distributions:                    # only these leave pbuilder/mock for qubes.DetBuild
        vm-bookworm: {}
        vm-trixie:
          target: "@dispvm:detbuild-dvm-trixie"
          require-environment: <environmentSha256 of the builder record>

Per-distribution keys override the top-level ones: target, nocheck, timeout,
require-environment, mode. A distribution may also be listed as a bare name.
"""
import re
import shlex
from dataclasses import dataclass
from typing import Optional, Tuple

from qubesbuilder.exc import ConfigError

SECTION = "detbuild"
DEFAULT_TARGET = "@dispvm:detbuild-dvm"
DEFAULT_CLIENT = ("detbuild",)
OPTION_KEYS = ("target", "nocheck", "timeout", "require-environment", "mode")
MODES = ("deterministic", "plain")
# a qube name or @dispvm:TEMPLATE (qrexec's own syntax for a new disposable)
TARGET_RE = re.compile(r"^(@dispvm:)?[A-Za-z][A-Za-z0-9_.-]{0,30}$|^@dispvm$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class DistSettings:
    """What the plugin does for one distribution."""

    distribution: str
    client: Tuple[str, ...]
    target: str
    nocheck: bool
    timeout: Optional[int]
    require_environment: Optional[str]
    mode: str


def _section(config) -> dict:
    section = config.get(SECTION, None)
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise ConfigError(f"'{SECTION}' in builder.yml must be a mapping")
    unknown = set(section) - {"client", "distributions", *OPTION_KEYS}
    if unknown:
        raise ConfigError(f"'{SECTION}': unknown key(s) {', '.join(sorted(unknown))}")
    return section


def _distributions(section: dict) -> dict:
    dists = section.get("distributions", {}) or {}
    if isinstance(dists, list):
        result = {}
        for item in dists:
            if isinstance(item, str):
                result[item] = {}
            elif isinstance(item, dict) and len(item) == 1:
                name, opts = next(iter(item.items()))
                result[name] = opts or {}
            else:
                raise ConfigError(f"'{SECTION}:distributions': cannot read entry {item!r}")
        dists = result
    if not isinstance(dists, dict):
        raise ConfigError(f"'{SECTION}:distributions' must be a list or a mapping of distribution names")
    for name, opts in dists.items():
        if not isinstance(opts, dict):
            raise ConfigError(f"'{SECTION}:distributions:{name}' must be a mapping")
        unknown = set(opts) - set(OPTION_KEYS)
        if unknown:
            raise ConfigError(f"'{SECTION}:distributions:{name}': unknown key(s) {', '.join(sorted(unknown))}")
    return dists


def _client(section: dict) -> Tuple[str, ...]:
    client = section.get("client", None)
    if client is None:
        return DEFAULT_CLIENT
    if isinstance(client, str):
        client = shlex.split(client)
    if not isinstance(client, list) or not client or not all(isinstance(c, str) and c for c in client):
        raise ConfigError(f"'{SECTION}:client' must be a command (a string or a list of strings)")
    return tuple(client)


def _options(where: str, merged: dict) -> dict:
    target = merged.get("target", DEFAULT_TARGET)
    if not isinstance(target, str) or not TARGET_RE.match(target):
        raise ConfigError(f"'{where}:target': expected a qube name or @dispvm:TEMPLATE, got {target!r}")
    nocheck = merged.get("nocheck", False)
    if not isinstance(nocheck, bool):
        raise ConfigError(f"'{where}:nocheck' must be true or false")
    timeout = merged.get("timeout", None)
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int) or timeout <= 0):
        raise ConfigError(f"'{where}:timeout' must be a positive number of seconds")
    required = merged.get("require-environment", None)
    if required is not None and (not isinstance(required, str) or not SHA256_RE.match(required)):
        raise ConfigError(f"'{where}:require-environment' must be a lowercase hex sha256 (environmentSha256 of a builder record)")
    mode = merged.get("mode", "deterministic")
    if mode not in MODES:
        raise ConfigError(f"'{where}:mode' must be one of {', '.join(MODES)}")
    return {"target": target, "nocheck": nocheck, "timeout": timeout, "require_environment": required, "mode": mode}


def selected(config, distribution: str) -> bool:
    """True when builder.yml sends this distribution's package builds to qubes.DetBuild."""
    return distribution in _distributions(_section(config))


def settings_for(config, distribution: str) -> DistSettings:
    section = _section(config)
    dists = _distributions(section)
    if distribution not in dists:
        raise ConfigError(f"'{SECTION}:distributions' does not list {distribution}")
    merged = {k: section[k] for k in OPTION_KEYS if k in section}
    merged.update(dists[distribution])
    return DistSettings(
        distribution=distribution,
        client=_client(section),
        **_options(f"{SECTION}:distributions:{distribution}", merged),
    )
