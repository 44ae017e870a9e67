/**
 * The packages: qubes-detbuild-vm as .deb and .rpm from one `make install-vm`,
 * qubes-detbuild-dom0 carrying policy, salt formula and the .deb; their file
 * lists and modes; a second build from another copy gives the same bytes;
 * the .deb installed for real into a scratch Debian bookworm root.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  addStandIns, buildPackages, type Built, copyRepository, debEntries, debMtimes, type Entry,
  rpmEntries, SOURCE_DATE_EPOCH, treeFiles,
} from './package-build.js';
import { canBuildRoots, dependsNames, inRoot, rootTarball, unpackRoot } from './debian-root.js';

const LIB = '/usr/lib/qubes-detbuild';
const DEB_UNIT = '/lib/systemd/system/detbuildd.service';
const RPM_UNIT = '/usr/lib/systemd/system/detbuildd.service';
const FILE = '-rw-r--r--';
const EXEC = '-rwxr-xr-x';

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const files = (entries: Entry[]) => entries.filter((e) => !e.perms.startsWith('d'));
const asMap = (entries: Entry[]) => new Map(entries.map((e) => [e.path, e.perms]));

let scratch: string;
let a: Built;
let b: Built;
let standIns: string[] = [];

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'detbuild-packages-'));
  const dirs = [join(scratch, 'a'), join(scratch, 'second-copy')];
  for (const dir of dirs) {
    copyRepository(dir);
    standIns = addStandIns(dir);
  }
  if (standIns.length) console.warn(`packages built with stand-ins for missing payload inputs: ${standIns.join(', ')}`);
  const results = await Promise.allSettled(dirs.map((dir) => buildPackages(dir)));
  for (const r of results) if (r.status === 'rejected') throw r.reason;
  [a, b] = results.map((r) => (r as PromiseFulfilledResult<Built>).value) as [Built, Built];
}, 400_000);

afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

/** What `make install-vm` must put in both VM packages: path -> ls-style mode. */
function expectedVmFiles(dir: string, unit: string): Map<string, string> {
  const expected = new Map<string, string>([
    ['/usr/bin/detbuild', EXEC],
    [`${LIB}/package.json`, FILE],
    [`${LIB}/native/detbuild-supervisor`, EXEC],
    [`${LIB}/native/libdetbuild-stat.so`, FILE], // the stat shim the sandbox preloads (src/supervisor/statshim.c)
    ['/etc/qubes-rpc/qubes.DetBuild', EXEC],
    ['/etc/qubes/rpc-config/qubes.DetBuild', FILE],
    [unit, FILE],
    ['/usr/share/dbus-1/system.d/org.qubes.DetBuild1.conf', FILE],
  ]);
  for (const [rel, mode] of treeFiles(join(dir, 'integrations/qubes-builderv2/detbuild'))) {
    if (rel.endsWith('.py')) expected.set(`/usr/share/qubes-detbuild/qubes-builderv2/detbuild/${rel}`, mode);
  }
  for (const [rel, mode] of treeFiles(join(dir, 'dist'))) expected.set(`${LIB}/dist/${rel}`, mode);
  for (const [rel, mode] of treeFiles(join(dir, 'packaging/build/vm-modules/node_modules'))) {
    expected.set(`${LIB}/node_modules/${rel}`, mode === 'l' ? 'lrwxrwxrwx' : mode);
  }
  return expected;
}

describe('qubes-detbuild-vm .deb', () => {
  it('has the control fields the template needs', () => {
    const field = (f: string) => execFileSync('dpkg-deb', ['-f', a.deb, f], { encoding: 'utf8' }).trim();
    expect(field('Package')).toBe('qubes-detbuild-vm');
    expect(field('Architecture')).toBe('amd64');
    expect(field('Version')).toMatch(/^\d+\.\d+\.\d+-1$/);
    const depends = field('Depends');
    expect(depends).toContain('nodejs (>= 18.19)');
    for (const p of ['bubblewrap', 'libseccomp2', 'dbus']) expect(dependsNames(depends)).toContain(p);
  });

  it('lists exactly the payload, with its modes, owned by root, mtimes clamped', () => {
    const entries = debEntries(a.deb);
    expect(asMap(files(entries))).toEqual(expectedVmFiles(a.dir, DEB_UNIT));
    for (const e of entries) expect(`${e.owner}/${e.group}`).toBe('root/root');
    for (const e of entries.filter((x) => x.perms.startsWith('d'))) expect(e.perms).toBe('drwxr-xr-x');
    const limit = new Date(Number(SOURCE_DATE_EPOCH) * 1000).toISOString().replace('T', ' ').slice(0, 19);
    for (const t of debMtimes(a.deb)) expect(t <= limit, `mtime ${t} after ${limit}`).toBe(true);
  });

  it('carries maintainer scripts and marks /etc files as conffiles', () => {
    const info = execFileSync('dpkg-deb', ['-I', a.deb], { encoding: 'utf8' });
    for (const s of ['postinst', 'prerm', 'postrm', 'conffiles', 'md5sums']) expect(info).toContain(` ${s}`);
    const dir = mkdtempSync(join(scratch, 'control-'));
    execFileSync('dpkg-deb', ['-e', a.deb, dir]);
    expect(readFileSync(join(dir, 'conffiles'), 'utf8').trim().split('\n')).toEqual([
      '/etc/qubes-rpc/qubes.DetBuild',
      '/etc/qubes/rpc-config/qubes.DetBuild',
    ]);
    const postinst = readFileSync(join(dir, 'postinst'), 'utf8');
    expect(postinst).toMatch(/useradd --system .*detbuild/s);
    expect(postinst).toMatch(/deb-systemd-helper enable "\$UNIT"/);
  });
});

describe('qubes-detbuild-vm .rpm', () => {
  it('has the same files and modes as the .deb (units in Fedora\'s directory)', () => {
    const rpm = rpmEntries(a.vmRpm);
    const listed = execFileSync('rpm', ['-qlp', a.vmRpm], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    expect(listed.trim().split('\n')).toEqual(rpm.map((e) => e.path));
    const expected = expectedVmFiles(a.dir, RPM_UNIT);
    expect(asMap(files(rpm))).toEqual(expected);
    for (const e of rpm) expect(`${e.owner}/${e.group}`).toBe('root/root');
    // directories: the ones of the payload tree, nothing the system owns
    const rpmDirs = rpm.filter((e) => e.perms.startsWith('d')).map((e) => e.path);
    const own = (p: string) => p.startsWith(LIB) || p.startsWith('/usr/share/qubes-detbuild');
    const debDirs = debEntries(a.deb).filter((e) => e.perms.startsWith('d') && own(e.path)).map((e) => e.path);
    expect(rpmDirs.sort()).toEqual(debDirs.sort());
  });

  it('is x86_64, reproducible-built, with config files and the daemon user', () => {
    const q = (fmt: string) => execFileSync('rpm', ['-qp', '--qf', fmt, a.vmRpm], { encoding: 'utf8' });
    expect(q('%{NAME} %{ARCH} %{BUILDHOST} %{BUILDTIME}')).toBe(`qubes-detbuild-vm x86_64 reproducible ${SOURCE_DATE_EPOCH}`);
    const config = execFileSync('rpm', ['-qcp', a.vmRpm], { encoding: 'utf8' }).trim().split('\n');
    expect(config).toEqual(['/etc/qubes-rpc/qubes.DetBuild', '/etc/qubes/rpc-config/qubes.DetBuild']);
    const scripts = execFileSync('rpm', ['-qp', '--scripts', a.vmRpm], { encoding: 'utf8' });
    expect(scripts).toMatch(/preinstall scriptlet[\s\S]*useradd --system/);
    expect(scripts).toMatch(/postinstall scriptlet[\s\S]*systemctl --no-reload enable detbuildd.service/);
    const requires = execFileSync('rpm', ['-qpR', a.vmRpm], { encoding: 'utf8' });
    expect(requires).toMatch(/^nodejs >= 18.19$/m);
  });
});

describe('qubes-detbuild-dom0 .rpm', () => {
  it('lists exactly the policy, the salt formula (with the template regeneration), the .deb and the docs', () => {
    const rpm = rpmEntries(a.dom0Rpm);
    expect(rpm.map((e) => `${e.perms} ${e.owner}:${e.group} ${e.path}`)).toEqual([
      '-rw-rw-r-- root:qubes /etc/qubes/policy.d/30-detbuild.policy',
      'drwxr-x--- root:root /srv/salt/detbuild',
      '-rw-r--r-- root:root /srv/salt/detbuild/fedora.sls',
      'drwxr-xr-x root:root /srv/salt/detbuild/files',
      '-rw-r--r-- root:root /srv/salt/detbuild/files/30-detbuild.policy',
      '-rw-r--r-- root:root /srv/salt/detbuild/files/30-detbuild.policy.jinja',
      '-rw-r--r-- root:root /srv/salt/detbuild/files/detbuild-template-regen',
      '-rw-r--r-- root:root /srv/salt/detbuild/files/detbuild-template-regen.service',
      '-rw-r--r-- root:root /srv/salt/detbuild/files/detbuild-template-regen.timer',
      '-rw-r--r-- root:root /srv/salt/detbuild/files/qubes-detbuild-vm.deb',
      '-rw-r--r-- root:root /srv/salt/detbuild/files/template-regen.conf.jinja',
      '-rw-r--r-- root:root /srv/salt/detbuild/init.sls',
      '-rw-r--r-- root:root /srv/salt/detbuild/init.top',
      '-rw-r--r-- root:root /srv/salt/detbuild/map.jinja',
      '-rw-r--r-- root:root /srv/salt/detbuild/template-regen.sls',
      '-rw-r--r-- root:root /srv/salt/detbuild/template.sls',
      'drwxr-xr-x root:root /usr/share/doc/qubes-detbuild-dom0',
      '-rw-r--r-- root:root /usr/share/doc/qubes-detbuild-dom0/ADMIN.md',
      '-rw-r--r-- root:root /usr/share/doc/qubes-detbuild-dom0/pillar.example',
    ]);
    expect(execFileSync('rpm', ['-qp', '--qf', '%{ARCH}', a.dom0Rpm], { encoding: 'utf8' })).toBe('noarch');
    expect(execFileSync('rpm', ['-qcp', a.dom0Rpm], { encoding: 'utf8' }).trim()).toBe('/etc/qubes/policy.d/30-detbuild.policy');
  });

  it('carries the .deb byte for byte and the policy as in policy/', () => {
    const dir = mkdtempSync(join(scratch, 'dom0-'));
    const cpio = execFileSync('rpm2cpio', [a.dom0Rpm], { maxBuffer: 64 * 1024 * 1024 });
    execFileSync('cpio', ['-idm', '--quiet'], { cwd: dir, input: cpio });
    expect(sha256(join(dir, 'srv/salt/detbuild/files/qubes-detbuild-vm.deb'))).toBe(sha256(a.deb));
    expect(readFileSync(join(dir, 'etc/qubes/policy.d/30-detbuild.policy'), 'utf8')).toBe(
      readFileSync(join(a.dir, 'policy/30-detbuild.policy'), 'utf8'),
    );
  });

  it('enables the top on installation and disables it on removal', () => {
    const scripts = execFileSync('rpm', ['-qp', '--scripts', a.dom0Rpm], { encoding: 'utf8' });
    expect(scripts).toMatch(/postinstall scriptlet[\s\S]*qubesctl top\.enable detbuild/);
    expect(scripts).toMatch(/preuninstall scriptlet[\s\S]*"\$1" -eq 0[\s\S]*qubesctl top\.disable detbuild/);
  });
});

describe('reproducibility', () => {
  it.each(['deb', 'vmRpm', 'dom0Rpm'] as const)('%s: a second build from another copy has the same hash', (k) => {
    expect(a[k].split('/').pop()).toBe(b[k].split('/').pop());
    expect(sha256(b[k])).toBe(sha256(a[k]));
  });
});

/* ------------------------------------------------- installed in a Debian root */

const rootSkip = canBuildRoots();
const hasDaemon = () =>
  !standIns.includes('dist/daemon/main.js') &&
  !standIns.includes('qrexec-services/qubes.DetBuild') &&
  !standIns.includes('packaging/systemd/detbuildd.service');

describe.skipIf(rootSkip !== null)('qubes-detbuild-vm installed in a scratch Debian bookworm root', () => {
  let root: string;
  const procMounted: string[] = [];
  const started: ChildProcess[] = [];

  beforeAll(() => {
    const depends = execFileSync('dpkg-deb', ['-f', a.deb, 'Depends'], { encoding: 'utf8' }).trim();
    const tarball = rootTarball(dependsNames(depends));
    root = join(scratch, 'root');
    unpackRoot(tarball, root);
    writeFileSync(join(root, 'tmp/qubes-detbuild-vm.deb'), readFileSync(a.deb));
    inRoot(root, ['dpkg', '-i', '/tmp/qubes-detbuild-vm.deb'], { timeout: 120_000 });
  }, 400_000);

  afterAll(() => {
    for (const child of started) child.kill('SIGTERM');
    // the system bus started inside the root (dbus-daemon --fork writes its pid there)
    try {
      const pid = Number(readFileSync(join(root, 'run/dbus/pid'), 'utf8').trim());
      if (pid > 0) process.kill(pid, 'SIGTERM');
    } catch {
      // not started
    }
    for (const mount of procMounted.reverse()) execFileSync('umount', ['-l', mount]);
  });

  it('is installed, with its dependencies satisfied by Debian\'s packages', () => {
    expect(inRoot(root, ['dpkg-query', '-W', '-f', '${Status}', 'qubes-detbuild-vm'])).toBe('install ok installed');
    const node = inRoot(root, ['node', '--version']).trim();
    expect(node).toMatch(/^v18\./); // Debian bookworm's Node.js, not the host's
  });

  it('puts the qrexec service, its config, the unit and the D-Bus policy where Qubes and systemd look', () => {
    const mode = (p: string) => (statSync(join(root, p)).mode & 0o7777).toString(8);
    expect(mode('etc/qubes-rpc/qubes.DetBuild')).toBe('755');
    expect(mode('etc/qubes/rpc-config/qubes.DetBuild')).toBe('644');
    expect(mode('lib/systemd/system/detbuildd.service')).toBe('644');
    expect(mode('usr/share/dbus-1/system.d/org.qubes.DetBuild1.conf')).toBe('644');
    expect(mode('usr/bin/detbuild')).toBe('755');
    expect(mode(`${LIB.slice(1)}/native/detbuild-supervisor`)).toBe('755');
    // the unit is enabled for the target its [Install] section names
    const unit = readFileSync(join(root, 'lib/systemd/system/detbuildd.service'), 'utf8');
    for (const target of /^WantedBy=(.*)$/m.exec(unit)?.[1]?.split(/\s+/) ?? []) {
      // a link to the unit (absolute inside the root: read it, do not follow it)
      expect(readlinkSync(join(root, `etc/systemd/system/${target}.wants/detbuildd.service`)), target).toBe(
        '/lib/systemd/system/detbuildd.service',
      );
    }
    expect(inRoot(root, ['getent', 'passwd', 'detbuild'])).toMatch(/^detbuild:x:\d+:\d+:.*:\/usr\/sbin\/nologin$/m);
  });

  it('runs the native supervisor binary (its shared libraries are there)', () => {
    const missing = inRoot(root, ['sh', '-c', `ldd ${LIB}/native/detbuild-supervisor || true`]);
    expect(missing).not.toMatch(/not found/);
  });

  it('loads the production dependencies and the compiled code with Debian\'s Node.js', () => {
    const pkg = JSON.parse(readFileSync(join(a.dir, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const deps = Object.keys(pkg.dependencies);
    // every compiled module but the entry points (main.js: they start the CLI, daemon, service)
    const distModules = [...treeFiles(join(a.dir, 'dist')).keys()]
      .filter((f) => f.endsWith('.js') && !f.endsWith('/main.js'))
      .map((f) => `dist/${f}`);
    const script = `
      import { createRequire } from 'node:module';
      const require = createRequire('${LIB}/package.json');
      const failures = [];
      for (const dep of ${JSON.stringify(deps)}) {
        try { await import(dep); } catch (e) {
          try { require(dep); } catch (e2) { failures.push(dep + ': ' + e.message); }
        }
      }
      for (const m of ${JSON.stringify(distModules)}) {
        try { await import('${LIB}/' + m); } catch (e) { failures.push(m + ': ' + e.message); }
      }
      console.log(JSON.stringify(failures));
    `;
    writeFileSync(join(root, `${LIB.slice(1)}/.load-check.mjs`), script);
    const failures = JSON.parse(inRoot(root, ['node', `${LIB}/.load-check.mjs`]).trim()) as string[];
    expect(failures).toEqual([]);
    // the native addon was built for this Node.js, not the build host's
    expect(inRoot(root, ['node', '-e', `require('${LIB}/node_modules/usocket'); console.log('ok')`]).trim()).toBe('ok');
  });

  it('starts the daemon and answers a +info request through the qrexec service', async (ctx) => {
    if (!hasDaemon()) {
      ctx.skip('awaits the daemon, its unit and the qrexec service (stand-ins were packaged)');
      return;
    }
    execFileSync('mount', ['-t', 'proc', 'proc', join(root, 'proc')]);
    procMounted.push(join(root, 'proc'));
    inRoot(root, ['sh', '-c', 'mkdir -p /run/dbus && dbus-uuidgen --ensure && dbus-uuidgen --ensure=/etc/machine-id && dbus-daemon --system --fork']);
    const unit = readFileSync(join(root, 'lib/systemd/system/detbuildd.service'), 'utf8');
    const execStart = /^ExecStart=[-@:+!]*(.*)$/m.exec(unit)?.[1]?.trim().split(/\s+/) ?? [];
    const user = /^User=(.*)$/m.exec(unit)?.[1]?.trim() ?? 'root';
    // what systemd would create for the unit
    const bases: Record<string, string> = { RuntimeDirectory: '/run', StateDirectory: '/var/lib', CacheDirectory: '/var/cache' };
    for (const [kind, base] of Object.entries(bases)) {
      for (const d of unit.match(new RegExp(`^${kind}=(.*)$`, 'm'))?.[1]?.trim().split(/\s+/) ?? []) {
        inRoot(root, ['install', '-d', '-o', user, '-g', user, `${base}/${d}`]);
      }
    }
    expect(execStart.length).toBeGreaterThan(0);
    const daemon = spawn('chroot', [`--userspec=${user}:${user}`, root, ...execStart], {
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', HOME: '/nonexistent' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    started.push(daemon);
    let daemonLog = '';
    daemon.stdout.on('data', (d) => (daemonLog += d));
    daemon.stderr.on('data', (d) => (daemonLog += d));
    const owned = () => {
      try {
        return inRoot(root, ['dbus-send', '--system', '--print-reply', '--dest=org.freedesktop.DBus', '/org/freedesktop/DBus',
          'org.freedesktop.DBus.NameHasOwner', 'string:org.qubes.DetBuild1']).includes('boolean true');
      } catch {
        return false;
      }
    };
    const deadline = Date.now() + 20_000;
    while (!owned() && Date.now() < deadline && daemon.exitCode === null) await new Promise((r) => setTimeout(r, 250));
    expect(owned(), `daemon did not take org.qubes.DetBuild1:\n${daemonLog}`).toBe(true);
    // as qrexec-agent runs a service: argument as $1 and in the environment, stdin/stdout the stream
    const reply = inRoot(root, ['/etc/qubes-rpc/qubes.DetBuild', 'info'], {
      input: '',
      env: { QREXEC_SERVICE_ARGUMENT: 'info', QREXEC_SERVICE_FULL_NAME: 'qubes.DetBuild+info', QREXEC_REMOTE_DOMAIN: 'work' },
      timeout: 30_000,
    });
    // the service exited 0 (execFileSync throws otherwise); the stream ends with a
    // success status after the environment record (JSON frames of src/protocol)
    expect(reply, `reply without a success status; daemon log:\n${daemonLog}`).toContain('"status":"success"');
    expect(reply).toContain('"ok":true');
    expect(reply).toContain('environment record');
  }, 60_000);
});
