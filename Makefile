# qubes-detbuild: build, install and package.
#
#   make                      build the payload (npm run build, runtime node_modules)
#   make install DESTDIR=D    install the VM payload (= install-vm), the one file
#                             list shared by the .deb and qubes-detbuild-vm.rpm
#   make install-dom0 DESTDIR=D VM_DEB=F   install policy, salt formula and F
#   make packages             .deb and both RPMs into packaging/build/packages
#
# The layout is docs/CONVENTIONS.md's table. UNITDIR is the one difference
# between the two packagings: Debian bookworm keeps units in /lib/systemd/system,
# Fedora in /usr/lib/systemd/system (the spec passes %{_unitdir}).

SHELL := /bin/sh

DESTDIR ?=
LIBDIR ?= /usr/lib/qubes-detbuild
BINDIR ?= /usr/bin
UNITDIR ?= /lib/systemd/system
QREXEC_SERVICE_DIR ?= /etc/qubes-rpc
RPC_CONFIG_DIR ?= /etc/qubes/rpc-config
DBUS_SYSTEM_DIR ?= /usr/share/dbus-1/system.d
POLICY_DIR ?= /etc/qubes/policy.d
SALT_DIR ?= /srv/salt/detbuild
DOM0_DOC_DIR ?= /usr/share/doc/qubes-detbuild-dom0
# the qubes-builderv2 plugin (docs/QUBES-BUILDER.md): builder.yml's plugins-dirs names this
BUILDERV2_PLUGINS_DIR ?= /usr/share/qubes-detbuild/qubes-builderv2

BUILD_DIR ?= packaging/build
# Runtime dependencies for the builder template: npm ci --omit=dev, native
# addons compiled against the headers of Debian's Node.js (see vm-modules).
VM_MODULES_DIR ?= $(BUILD_DIR)/vm-modules
VM_MODULES ?= $(VM_MODULES_DIR)/node_modules
NODE_HEADERS_DIR ?= $(BUILD_DIR)/node-headers
NODE_HEADERS_PKGS ?= libnode-dev libuv1-dev
VM_DEB ?= $(BUILD_DIR)/packages/qubes-detbuild-vm.deb

# The files the VM payload is made of (some are built, some written by hand).
PAYLOAD_INPUTS = dist/daemon/main.js dist/cli/main.js native/detbuild-supervisor native/libdetbuild-stat.so \
	qrexec-services/qubes.DetBuild qrexec-services/qubes.DetBuild.rpc-config \
	packaging/systemd/detbuildd.service packaging/dbus/org.qubes.DetBuild1.conf package.json \
	integrations/qubes-builderv2/detbuild/__init__.py

.PHONY: all build vm-modules node-headers check-payload install install-vm install-dom0 \
	packages deb rpm clean

all: build vm-modules

build:
	npm run build

## Node.js headers of the builder template's Node.js (Debian bookworm's), from
## Debian's own packages, so that native addons (usocket) load there.
node-headers: $(NODE_HEADERS_DIR)/.stamp
$(NODE_HEADERS_DIR)/.stamp:
	rm -rf $(NODE_HEADERS_DIR) && mkdir -p $(NODE_HEADERS_DIR)/debs
	# (apt-get download needs package lists: refresh them once if it cannot find the packages)
	cd $(NODE_HEADERS_DIR)/debs && { apt-get download $(NODE_HEADERS_PKGS) || \
		{ apt-get update -qq && apt-get download $(NODE_HEADERS_PKGS); }; }
	for deb in $(NODE_HEADERS_DIR)/debs/*.deb; do dpkg-deb -x "$$deb" $(NODE_HEADERS_DIR)/root || exit 1; done
	test -f $(NODE_HEADERS_DIR)/root/usr/include/nodejs/common.gypi
	touch $@

vm-modules: $(VM_MODULES_DIR)/.stamp
$(VM_MODULES_DIR)/.stamp: package.json package-lock.json $(NODE_HEADERS_DIR)/.stamp
	rm -rf $(VM_MODULES_DIR) && mkdir -p $(VM_MODULES_DIR)
	cp package.json package-lock.json $(VM_MODULES_DIR)/
	cd $(VM_MODULES_DIR) && npm ci --omit=dev --no-bin-links --no-audit --no-fund \
		--nodedir="$(abspath $(NODE_HEADERS_DIR))/root/usr/include/nodejs"
	rm -f $(VM_MODULES)/.package-lock.json
	# keep the compiled addons, drop their build trees (absolute paths, objects)
	for gyp in $$(find $(VM_MODULES) -name binding.gyp | LC_ALL=C sort); do \
		dir=$${gyp%/binding.gyp}; [ -d "$$dir/build" ] || continue; \
		mkdir "$$dir/keep" && mv "$$dir"/build/Release/*.node "$$dir/keep/" && \
		rm -rf "$$dir/build" && mkdir -p "$$dir/build" && mv "$$dir/keep" "$$dir/build/Release" || exit 1; \
	done
	touch $@

check-payload:
	@missing=""; for f in $(PAYLOAD_INPUTS); do [ -e "$$f" ] || missing="$$missing $$f"; done; \
	[ -d "$(VM_MODULES)" ] || missing="$$missing $(VM_MODULES) (make vm-modules)"; \
	if [ -n "$$missing" ]; then echo "payload incomplete, missing:$$missing (run make first)" >&2; exit 1; fi

install: install-vm

install-vm: check-payload
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(BINDIR)
	rm -rf $(DESTDIR)$(LIBDIR)/dist $(DESTDIR)$(LIBDIR)/node_modules
	cp -R dist $(DESTDIR)$(LIBDIR)/dist
	cp -R $(VM_MODULES) $(DESTDIR)$(LIBDIR)/node_modules
	install -m 0644 package.json $(DESTDIR)$(LIBDIR)/package.json
	install -D -m 0755 native/detbuild-supervisor $(DESTDIR)$(LIBDIR)/native/detbuild-supervisor
	install -D -m 0644 native/libdetbuild-stat.so $(DESTDIR)$(LIBDIR)/native/libdetbuild-stat.so
	printf '#!/bin/sh\nexec node %s/dist/cli/main.js "$$@"\n' $(LIBDIR) > $(DESTDIR)$(BINDIR)/detbuild
	chmod 0755 $(DESTDIR)$(BINDIR)/detbuild
	install -D -m 0755 qrexec-services/qubes.DetBuild $(DESTDIR)$(QREXEC_SERVICE_DIR)/qubes.DetBuild
	install -D -m 0644 qrexec-services/qubes.DetBuild.rpc-config $(DESTDIR)$(RPC_CONFIG_DIR)/qubes.DetBuild
	install -D -m 0644 packaging/systemd/detbuildd.service $(DESTDIR)$(UNITDIR)/detbuildd.service
	install -D -m 0644 packaging/dbus/org.qubes.DetBuild1.conf $(DESTDIR)$(DBUS_SYSTEM_DIR)/org.qubes.DetBuild1.conf
	install -d $(DESTDIR)$(BUILDERV2_PLUGINS_DIR)/detbuild
	install -m 0644 integrations/qubes-builderv2/detbuild/*.py $(DESTDIR)$(BUILDERV2_PLUGINS_DIR)/detbuild/
	# modes independent of the umask and of how files were checked out:
	# directories 0755, files 0644, or 0755 if their owner could execute them
	find $(DESTDIR)$(LIBDIR)/dist $(DESTDIR)$(LIBDIR)/node_modules -type d -exec chmod 0755 {} +
	find $(DESTDIR)$(LIBDIR)/dist $(DESTDIR)$(LIBDIR)/node_modules -type f -perm -u+x -exec chmod 0755 {} +
	find $(DESTDIR)$(LIBDIR)/dist $(DESTDIR)$(LIBDIR)/node_modules -type f ! -perm -u+x -exec chmod 0644 {} +

install-dom0:
	@[ -f "$(VM_DEB)" ] || { echo "no VM package at $(VM_DEB) (make deb, or pass VM_DEB=)" >&2; exit 1; }
	install -D -m 0664 policy/30-detbuild.policy $(DESTDIR)$(POLICY_DIR)/30-detbuild.policy
	install -d -m 0750 $(DESTDIR)$(SALT_DIR)
	install -d -m 0755 $(DESTDIR)$(SALT_DIR)/files
	install -m 0644 salt/detbuild/init.top salt/detbuild/init.sls salt/detbuild/template.sls \
		salt/detbuild/template-regen.sls salt/detbuild/fedora.sls salt/detbuild/map.jinja $(DESTDIR)$(SALT_DIR)/
	install -m 0644 salt/detbuild/files/30-detbuild.policy.jinja $(DESTDIR)$(SALT_DIR)/files/
	install -m 0644 policy/30-detbuild.policy $(DESTDIR)$(SALT_DIR)/files/30-detbuild.policy
	install -m 0644 salt/detbuild/files/detbuild-template-regen salt/detbuild/files/detbuild-template-regen.service \
		salt/detbuild/files/detbuild-template-regen.timer salt/detbuild/files/template-regen.conf.jinja \
		$(DESTDIR)$(SALT_DIR)/files/
	install -m 0644 $(VM_DEB) $(DESTDIR)$(SALT_DIR)/files/qubes-detbuild-vm.deb
	install -D -m 0644 salt/pillar.example $(DESTDIR)$(DOM0_DOC_DIR)/pillar.example
	install -D -m 0644 docs/ADMIN.md $(DESTDIR)$(DOM0_DOC_DIR)/ADMIN.md

packages:
	packaging/build-packages.sh
deb:
	packaging/build-packages.sh --deb-only
rpm: packages

clean:
	rm -rf $(BUILD_DIR)
