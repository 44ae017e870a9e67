# -*- coding: utf-8 -*-
# vim: set syntax=yaml ts=2 sw=2 sts=2 et :

##
# detbuild.template-regen
# =======================
#
# dom0: the periodic regeneration of the builder template from a lock file
# (detbuild-template-regen, its service and timer). The timer stays disabled
# unless the pillar says detbuild:template_regen:enable: True; see docs/ADMIN.md.
#
# Execute:
#   qubesctl state.sls detbuild.template-regen
##

{%- from "detbuild/map.jinja" import detbuild with context %}
{%- set regen = detbuild.template_regen %}

detbuild-template-regen-script:
  file.managed:
    - name: /usr/lib/qubes-detbuild/detbuild-template-regen
    - source: salt://detbuild/files/detbuild-template-regen
    - user: root
    - group: root
    - mode: '0755'
    - makedirs: True

detbuild-template-regen-config:
  file.managed:
    - name: /etc/qubes-detbuild/template-regen.conf
    - source: salt://detbuild/files/template-regen.conf.jinja
    - template: jinja
    - user: root
    - group: root
    - mode: '0644'
    - makedirs: True

detbuild-template-regen-service:
  file.managed:
    - name: /etc/systemd/system/detbuild-template-regen.service
    - source: salt://detbuild/files/detbuild-template-regen.service
    - user: root
    - group: root
    - mode: '0644'

detbuild-template-regen-timer:
  file.managed:
    - name: /etc/systemd/system/detbuild-template-regen.timer
    - source: salt://detbuild/files/detbuild-template-regen.timer
    - user: root
    - group: root
    - mode: '0644'

{%- if regen.enable %}

detbuild-template-regen-timer-enabled:
  service.running:
    - name: detbuild-template-regen.timer
    - enable: True
    - require:
      - file: detbuild-template-regen-script
      - file: detbuild-template-regen-config
      - file: detbuild-template-regen-service
      - file: detbuild-template-regen-timer
{%- else %}

detbuild-template-regen-timer-disabled:
  service.dead:
    - name: detbuild-template-regen.timer
    - enable: False
    - require:
      - file: detbuild-template-regen-timer
{%- endif %}
