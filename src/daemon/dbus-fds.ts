/**
 * A fix for how dbus-next (0.10) matches received unix fds to messages.
 *
 * Its parser reads each message body with `stream.read(length, null)`, which on a usocket
 * connection takes *every* descriptor received so far, not the UNIX_FDS count the message
 * header declares. When the chunk holding the next message (with its descriptors) has
 * already been received, the current message swallows them and the next one fails with
 * "No FDs available", thrown from a stream event handler: the process dies. A daemon
 * receiving Attach calls among other traffic hits this (seen in test/daemon).
 *
 * This replaces dbus-next's unmarshalMessages with the same parser taking exactly the
 * declared number of descriptors; a message that still cannot be decoded is dropped
 * (its descriptors closed) instead of killing the process.
 */
import { closeSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

interface FdStream {
  on(event: 'readable', listener: () => void): unknown;
  read(size?: number, fdSize?: number | null): Buffer | { data: Buffer; fds: number[] } | null;
  _wrap?: { fds: number[] } | null;
}

type MessageObject = Record<string, unknown> & { body?: unknown[] };

let patched = false;

export function fixDbusNextFdHandling(): void {
  if (patched) return;
  patched = true;
  const message = require('dbus-next/lib/message.js') as { unmarshalMessages: unknown };
  const DBusBuffer = require('dbus-next/lib/dbus-buffer.js') as new (buf: Buffer, pos: number, endian: number, fds: number[] | null, opts: unknown) => {
    readArray(sig: unknown, len: number): Array<[number, [unknown, [unknown]]]>;
    align(n: number): void;
    read(sig: string): unknown[];
  };
  const constants = require('dbus-next/lib/constants.js') as { endianness: { le: number }; headerTypeName: string[] };
  const headerSignature = require('dbus-next/lib/header-signature.json') as Array<{ child: unknown[] }>;
  const LE = constants.endianness.le;

  message.unmarshalMessages = function unmarshalMessages(stream: FdStream, onMessage: (m: MessageObject) => void, opts: unknown): void {
    let state = 0;
    let header: Buffer | null = null;
    let endian = 0;
    let fieldsLength = 0;
    let bodyLength = 0;
    let fieldsAndBodyLength = 0;
    stream.on('readable', () => {
      for (;;) {
        if (state === 0) {
          const h = stream.read(16);
          if (!h) break;
          header = Buffer.isBuffer(h) ? h : h.data;
          state = 1;
          endian = header.readUInt8(0);
          fieldsLength = endian === LE ? header.readUInt32LE(12) : header.readUInt32BE(12);
          const fieldsLengthPadded = ((fieldsLength + 7) >> 3) << 3;
          bodyLength = endian === LE ? header.readUInt32LE(4) : header.readUInt32BE(4);
          fieldsAndBodyLength = fieldsLengthPadded + bodyLength;
        } else {
          const b = stream.read(fieldsAndBodyLength);
          if (!b) break;
          const fieldsAndBody = Buffer.isBuffer(b) ? b : b.data;
          state = 0;
          let fds: number[] = [];
          try {
            const fields = new DBusBuffer(fieldsAndBody, 0, endian, null, opts).readArray(headerSignature[0]!.child[0], fieldsLength);
            const msg: MessageObject = {};
            for (const f of fields) msg[constants.headerTypeName[f[0]]!] = f[1][1][0];
            const want = typeof msg.unixFd === 'number' ? msg.unixFd : 0;
            fds = want > 0 && stream._wrap ? stream._wrap.fds.splice(0, want) : [];
            if (fds.length < want) throw new Error(`message declares ${want} descriptors, ${fds.length} arrived`);
            const buf = new DBusBuffer(fieldsAndBody, 0, endian, fds, opts);
            buf.readArray(headerSignature[0]!.child[0], fieldsLength);
            buf.align(3);
            msg.serial = endian === LE ? header!.readUInt32LE(8) : header!.readUInt32BE(8);
            msg.type = header![1];
            msg.flags = header![2];
            if (bodyLength > 0 && msg.signature) msg.body = buf.read(msg.signature as string);
            fds = [];
            onMessage(msg);
          } catch (err) {
            for (const fd of fds) {
              try {
                closeSync(fd);
              } catch {
                // already closed
              }
            }
            process.emitWarning(`dropped an undecodable D-Bus message: ${(err as Error).message}`);
          }
        }
      }
    });
  };
}
