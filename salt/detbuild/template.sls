# -*- coding: utf-8 -*-
# vim: set syntax=yaml ts=2 sw=2 sts=2 et :

##
# detbuild.template
# =================
#
# Installs the builder side of qubes-detbuild (daemon, native supervisor,
# qrexec service, systemd unit, D-Bus policy) into the builder template.
# On Debian the package comes from the dom0 package itself (salt:// source,
# apt resolves its dependencies); on Fedora from the template's repositories,
# or, in the Fedora builder template, from detbuild:fedora:vm_package_rpm when
# set, with detbuild:fedora:build_packages (rpm-build and BuildRequires).
# Shut the template down afterwards so that new builders see the change.
#
# Execute:
#   qubesctl --skip-dom0 --targets=detbuild-template state.apply
##

{%- from "detbuild/map.jinja" import detbuild with context %}
{%- set fedora_builder = grains.get('id', '') == detbuild.fedora.template %}
{%- if grains['os_family'] == 'Debian' %}

detbuild-vm-package:
  pkg.installed:
    - sources:
      - {{ detbuild.vm_package_name }}: {{ detbuild.vm_package_deb }}
{%- elif grains['os_family'] == 'RedHat' %}

detbuild-vm-package:
  pkg.installed:
{%- if fedora_builder and detbuild.fedora.vm_package_rpm %}
    - sources:
      - {{ detbuild.vm_package_name }}: {{ detbuild.fedora.vm_package_rpm }}
{%- else %}
    - name: {{ detbuild.vm_package_name }}
{%- endif %}
{%- if fedora_builder and detbuild.fedora.build_packages %}

{#- the Fedora builder: rpmbuild and the BuildRequires of the packages it builds,
    checked against this template's rpm database before each build #}
detbuild-fedora-build-packages:
  pkg.installed:
    - pkgs: {{ detbuild.fedora.build_packages | json }}
{%- endif %}
{%- else %}

detbuild-vm-package:
  test.fail_without_changes:
    - name: >-
        qubes-detbuild supports Debian and Fedora builder templates,
        not {{ grains['os_family'] }}
{%- endif %}
