#!/usr/bin/python3
"""Render a file of the detbuild salt formula the way Salt does: Jinja, then
(for .sls and .top files) YAML. Used by test/dom0/salt.test.ts.

Input (JSON on stdin): {"root": salt file root, "file": path under it,
"pillar": {...}, "grains": {...}, "yaml": bool}.
Output (JSON on stdout): {"text": rendered text, "data": parsed YAML or null}.

Like Salt: StrictUndefined, the "do" and "loopcontrols" extensions, includes
and imports resolved under the file root (salt://), `salt['pillar.get']`
with ':' paths and merge=True, `salt['grains.get']`, the json, yaml
and regex_replace filters, and the trailing newline of the template kept. Needs Debian's
python3-jinja2 and python3-yaml.
"""

import copy
import json
import re
import sys

import jinja2
import yaml


def deep_merge(base, override):
    """salt.utils.dictupdate.update without list merging."""
    result = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = deep_merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def traverse(data, key, default, delimiter=":"):
    node = data
    for part in key.split(delimiter):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def make_salt(pillar, grains):
    def pillar_get(key, default="", merge=False, delimiter=":"):
        value = traverse(pillar, key, None, delimiter)
        if value is None:
            return copy.deepcopy(default)
        if merge and isinstance(default, dict) and isinstance(value, dict):
            return deep_merge(default, value)
        return copy.deepcopy(value)

    def grains_get(key, default="", delimiter=":"):
        return copy.deepcopy(traverse(grains, key, default, delimiter))

    return {"pillar.get": pillar_get, "grains.get": grains_get}


def main():
    request = json.load(sys.stdin)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(request["root"]),
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols"],
        keep_trailing_newline=True,
    )
    env.filters["json"] = lambda value: json.dumps(value)
    # salt.utils.jinja.regex_replace
    env.filters["regex_replace"] = lambda txt, rgx, val, ignorecase=False, multiline=False: re.compile(
        rgx, (re.I if ignorecase else 0) | (re.M if multiline else 0)
    ).sub(val, txt)
    env.filters["yaml"] = lambda value, flow=True: yaml.safe_dump(
        value, default_flow_style=flow
    ).strip()
    pillar = request.get("pillar", {})
    grains = request.get("grains", {})
    context = {
        "salt": make_salt(pillar, grains),
        "pillar": pillar,
        "grains": grains,
        "opts": {},
        "saltenv": "base",
        "sls": request["file"].rsplit(".", 1)[0].replace("/", "."),
    }
    text = env.get_template(request["file"]).render(**context)
    data = yaml.safe_load(text) if request.get("yaml", True) else None
    json.dump({"text": text, "data": data}, sys.stdout)


if __name__ == "__main__":
    main()
