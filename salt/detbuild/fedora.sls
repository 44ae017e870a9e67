# -*- coding: utf-8 -*-
# vim: set syntax=yaml ts=2 sw=2 sts=2 et :

##
# detbuild.fedora
# ===============
#
# A second family of builders for RPM builds (`detbuild rpm`, recipe kind
# 'rpm'), beside the Debian ones: a builder template cloned from a Fedora
# template, its disposable template (default detbuild-fedora-dvm) and a named
# disposable (default builder-fedora), with the same settings and the same
# builder tag as detbuild-dvm and builder, so the policy keeps them closed the
# same way. Callers pick the family by target: builder / @dispvm:detbuild-dvm
# (Debian, dpkg recipe) or builder-fedora / @dispvm:detbuild-fedora-dvm (RPM,
# BuildRequires checked against the template's rpm database).
# Only when pillar detbuild:fedora:enable is True (the top adds it then).
#
# Execute:
#   qubesctl state.apply          (with the top enabled)
#   qubesctl --skip-dom0 --targets=detbuild-fedora-template state.apply
##

{%- from "detbuild/map.jinja" import detbuild with context %}
{%- set f = detbuild.fedora %}

include:
  - detbuild
{%- if f.enable %}
{%- if f.install_base_template %}

detbuild-fedora-base-template:
  qvm.template_installed:
    - name: {{ f.base_template }}
{%- endif %}

detbuild-fedora-template:
  qvm.clone:
    - name: {{ f.template }}
    - source: {{ f.base_template }}
    - require:
      - file: detbuild-policy
{%- if f.install_base_template %}
      - qvm: detbuild-fedora-base-template
{%- endif %}
{%- for id, name, present, extra, needs in [
      ('detbuild-fedora-dvm', f.dvm, {'template': f.template, 'label': detbuild.label}, {'template': f.template, 'template_for_dispvms': True}, 'detbuild-fedora-template'),
      ('detbuild-fedora-builder', f.builder, {'class': 'DispVM', 'template': f.dvm, 'label': detbuild.label}, {'template': f.dvm}, 'detbuild-fedora-dvm'),
    ] %}

{{ id }}:
  qvm.vm:
    - name: {{ name }}
    - present:
{%- for k, v in present.items() %}
      - {{ k }}: {{ v }}
{%- endfor %}
    - prefs:
{%- for k, v in extra.items() %}
      - {{ k }}: {{ v }}
{%- endfor %}
      - label: {{ detbuild.label }}
      - netvm: ""
      - default_dispvm: ""
      - include_in_backups: False
      - memory: {{ detbuild.memory }}
      - maxmem: 0
      - vcpus: {{ detbuild.vcpus }}
      - kernel: "{{ detbuild.kernel }}"
      - kernelopts: "{{ detbuild.kernelopts }}"
    - tags:
      - add:
        - {{ detbuild.builder_tag }}
    - service:
      - enable:
        - detbuildd
    - require:
      - qvm: {{ needs }}
      - file: detbuild-policy
{%- endfor %}
{%- endif %}
