/** The D-Bus side shared by detbuildd and the qrexec service: names and how to connect. */
import dbus from 'dbus-next';
import { fixDbusNextFdHandling } from './dbus-fds.js';

export const BUS_NAME = 'org.qubes.DetBuild1';
export const OBJECT_PATH = '/org/qubes/DetBuild1';
export const INTERFACE = 'org.qubes.DetBuild1.Builder';
export const ERROR_PREFIX = 'org.qubes.DetBuild1.Error';
/** The D-Bus errors of a refused request (the daemon's RequestError, codes REQUEST_*): ERROR_PREFIX.RequestMode, … */
export const REFUSED_ERROR_PREFIX = `${ERROR_PREFIX}.Request`;

/** Environment variable naming another bus (tests' private dbus-daemon); default: the system bus. */
export const BUS_ADDRESS_ENV = 'DETBUILD_DBUS_ADDRESS';

/**
 * Connects with unix-fd passing negotiated (the caller's streams travel as D-Bus 'h'
 * arguments). dbus-next needs the usocket package for that.
 */
export function connectBus(address = process.env[BUS_ADDRESS_ENV]): dbus.MessageBus {
  fixDbusNextFdHandling();
  const opts = { negotiateUnixFd: true } as dbus.SystemBusOptions & dbus.SessionBusOptions;
  if (address) return dbus.sessionBus({ ...opts, busAddress: address });
  return dbus.systemBus(opts);
}

/** Resolves once the connection is up (Hello answered), rejects on its first error. */
export function whenConnected(bus: dbus.MessageBus, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer from the D-Bus daemon in ${timeoutMs} ms`)), timeoutMs);
    const b = bus as dbus.MessageBus & { name: string | null };
    if (b.name) {
      clearTimeout(timer);
      resolve();
      return;
    }
    bus.once('connect', () => {
      clearTimeout(timer);
      resolve();
    });
    bus.once('error', (err: unknown) => {
      clearTimeout(timer);
      reject(err instanceof Error ? err : new Error(String(err)));
    });
  });
}
