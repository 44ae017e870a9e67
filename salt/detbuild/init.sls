# -*- coding: utf-8 -*-
# vim: set syntax=yaml ts=2 sw=2 sts=2 et :

##
# detbuild
# ========
#
# dom0 side of qubes-detbuild: the qrexec policy, the builder template, the
# disposable template of the builders, the named disposable that clients call,
# and the tag of the client qubes. Names and sizes come from the pillar
# "detbuild" (defaults in detbuild/map.jinja). Re-applying changes nothing
# once the system is in this state.
#
# Execute:
#   qubesctl top.enable detbuild
#   qubesctl state.apply
#   qubesctl --skip-dom0 --targets=detbuild-template state.apply
##

{%- from "detbuild/map.jinja" import detbuild with context %}

{# kernelopts only reach a qube booted with a kernel provided by dom0; with
    kernel '' (the qube's own kernel) the vDSO would stay mapped and clock reads
    would bypass the engine. #}
{%- if detbuild.kernel in ['', none, 'none'] %}

detbuild-kernel-from-dom0:
  test.fail_without_changes:
    - name: >-
        pillar detbuild:kernel must name a dom0-provided kernel (or '*default*'):
        kernelopts, which disable the vDSO, do not apply to a qube's own kernel
{%- endif %}

{# The policy goes first: the tag-based denials must be in force before any
    tagged qube exists. #}
detbuild-policy:
  file.managed:
    - name: /etc/qubes/policy.d/30-detbuild.policy
    - source: salt://detbuild/files/30-detbuild.policy.jinja
    - template: jinja
    - user: root
    - group: qubes
    - mode: '0664'

{%- if detbuild.install_base_template %}

detbuild-base-template:
  qvm.template_installed:
    - name: {{ detbuild.base_template }}
{%- endif %}

detbuild-template:
  qvm.clone:
    - name: {{ detbuild.template }}
    - source: {{ detbuild.base_template }}
    - require:
      - file: detbuild-policy
{%- if detbuild.install_base_template %}
      - qvm: detbuild-base-template
{%- endif %}

detbuild-dvm:
  qvm.vm:
    - name: {{ detbuild.dvm }}
    - present:
      - template: {{ detbuild.template }}
      - label: {{ detbuild.label }}
    - prefs:
      - template: {{ detbuild.template }}
      - label: {{ detbuild.label }}
      - template_for_dispvms: True
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
    {#- detbuildd runs only where this qvm-service is on: not in the template itself #}
    - service:
      - enable:
        - detbuildd
    - require:
      - qvm: detbuild-template
      - file: detbuild-policy

{# A named disposable: callers reach it by name, qrexec starts it on demand
    from the disposable template, and its disk is thrown away at every shutdown. #}
detbuild-builder:
  qvm.vm:
    - name: {{ detbuild.builder }}
    - present:
      - class: DispVM
      - template: {{ detbuild.dvm }}
      - label: {{ detbuild.label }}
    - prefs:
      - template: {{ detbuild.dvm }}
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
      - qvm: detbuild-dvm
      - file: detbuild-policy

{%- for client in detbuild.clients %}

detbuild-client-{{ client }}:
  qvm.tags:
    - name: {{ client }}
    - add:
      - {{ detbuild.client_tag }}
    - require:
      - file: detbuild-policy
{%- endfor %}
