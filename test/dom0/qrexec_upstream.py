"""Drives Qubes' own qrexec policy parser and evaluator (qubes-core-qrexec,
imported from the unpacked snapshot on PYTHONPATH) for test/dom0/qrexec-policy.ts.

Reads one JSON job on stdin, writes one JSON answer on stdout:
  {"op": "parse", "files": [{"name": N, "text": T}]}
      -> {"rules": [{file, line, service, argument, source, target, action, params}]}
         or {"error": {"file": N, "line": L, "message": M}}
  {"op": "evaluate", "files": [...], "system": {...}, "requests": [{service, argument, source, target}]}
      -> {"decisions": [{action, file, line, target, reason}]}
Files are concatenated in the order given, as qrexec reads policy.d.
"""
import json
import sys

from qrexec import exc
from qrexec.policy import parser


def load(files):
    # one in-memory policy per file, included in order from __main__, so that
    # errors and rules keep their own file name and line numbers
    policy = {"__main__": "".join(f"!include {f['name']}\n" for f in files)}
    for f in files:
        policy[f["name"]] = f["text"]
    return parser.StringPolicy(policy=policy)


def rule_file(rule):
    return str(rule.filepath).removesuffix("[in-memory]")


def describe(rule):
    action = rule.action
    params = {}
    for key in ("target", "default_target", "user", "notify", "autostart"):
        value = getattr(action, key, None)
        if value is None or (key == "notify" and value is False) or (key == "autostart" and value is True):
            continue
        params[key] = ("yes" if value else "no") if isinstance(value, bool) else str(value)
    return {
        "file": rule_file(rule),
        "line": rule.lineno,
        "service": rule.service,
        "argument": rule.argument,
        "source": str(rule.source),
        "target": str(rule.target),
        "action": type(action).__name__.lower(),
        "params": params,
    }


def system_info(system):
    # as qubesd's internal.GetSystemInfo gives it, with every qube also
    # reachable as "uuid:UUID" (qrexec.utils.get_system_info does the same)
    domains = {}
    for index, (name, q) in enumerate(sorted(system.items())):
        uuid = f"00000000-0000-4000-8000-{index:012d}"
        domains[name] = {
            "name": name,
            "type": q["type"],
            "tags": q.get("tags", []),
            "template_for_dispvms": bool(q.get("templateForDispvms", False)),
            "default_dispvm": q.get("defaultDispvm"),
            "power_state": "Running",
            "icon": "",
            "label": "red",
            "guivm": None,
            "uuid": uuid,
        }
        domains["uuid:" + uuid] = domains[name]
    return {"domains": domains}


def decide(policy, info, r):
    try:
        request = parser.Request(r["service"], r["argument"], r["source"], r["target"], system_info=info)
    except (exc.AccessDenied, exc.RequestError) as e:
        return {"action": "deny", "file": None, "line": None, "reason": str(e)}
    try:
        rule = policy.find_matching_rule(request)
    except exc.AccessDenied as e:
        return {"action": "deny", "file": None, "line": None, "reason": str(e)}
    where = {"file": rule_file(rule), "line": rule.lineno}
    try:
        resolution = rule.action.evaluate(request)
    except exc.AccessDenied as e:
        return {"action": "deny", **where, "reason": str(e)}
    if isinstance(resolution, parser.AskResolution):
        return {"action": "ask", **where}
    return {"action": "allow", **where, "target": str(resolution.target)}


def main():
    job = json.load(sys.stdin)
    try:
        policy = load(job["files"])
    except exc.PolicySyntaxError as e:
        # PolicySyntaxError's text is "FILE:LINE: MESSAGE"
        text = str(e)
        head, _, message = text.partition(": ")
        file, _, line = head.rpartition(":")
        json.dump({"error": {"file": file.removesuffix("[in-memory]"), "line": int(line) if line.isdigit() else 0, "message": message or text}}, sys.stdout)
        return
    if job["op"] == "parse":
        json.dump({"rules": [describe(rule) for rule in policy.rules]}, sys.stdout)
        return
    info = system_info(job["system"])
    json.dump({"decisions": [decide(policy, info, r) for r in job["requests"]]}, sys.stdout)


if __name__ == "__main__":
    main()
