/**
 * Reading a response: frames checked for order and schema, artifacts checked against the
 * manifest (path, size, sha256) while they stream into a staging directory, one chunk at a
 * time. The final status frame is the only thing that says success; a stream without it,
 * or with anything after it, is a transport error.
 */
import { createHash } from 'node:crypto';
import { constants as FS, promises as fs, type WriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import path from 'node:path';
import { DIR_MODE, fileMode } from '../engine/modes.js';
import type { ArtifactEntry, Manifest } from '../engine/types.js';
import { FrameType, RESPONSE_FRAMES } from '../protocol/constants.js';
import { ProtocolError } from '../protocol/errors.js';
import {
  ArtifactHeaderSchema,
  EnvironmentRecordSchema,
  EventFrameSchema,
  FinalStatusSchema,
  ManifestSchema,
  QueuedSchema,
  VerifyReportSchema,
  type EventFrame,
  type FinalStatus,
  type Queued,
  type VerifyReport,
} from '../protocol/messages.js';
import { safeRelativePath } from '../protocol/paths.js';
import { readAhead } from '../protocol/read-ahead.js';
import { FrameReader, parseJsonFrame } from '../protocol/reader.js';
import type { EnvironmentRecord } from '../record/schema.js';
import { ClientError } from './errors.js';

export interface ResponseHandlers {
  onQueued?(q: Queued): void;
  onEvent?(e: EventFrame): void;
  /** an artifact started (index from 0) */
  onArtifact?(index: number, total: number, entry: ArtifactEntry): void;
  /** bytes of artifacts received so far */
  onBytes?(received: number, total: number): void;
}

export interface ResponseResult {
  status: FinalStatus;
  manifest: Manifest | null;
  record: EnvironmentRecord | null;
  verify: VerifyReport | null;
  /** artifacts written (and verified) under the staging directory */
  artifacts: number;
}

interface OpenArtifact {
  entry: ArtifactEntry;
  file: string;
  fh: fs.FileHandle;
  /** writes go through a stream (ordered, backpressured) so that reading, hashing and writing overlap */
  out: WriteStream;
  hash: ReturnType<typeof createHash>;
  received: number;
}

/**
 * Reads a whole response. Artifacts are written below `artifactsDir` (which must exist
 * and be empty); ClientError CLIENT_INTEGRITY when one does not match its manifest.
 */
export async function readResponse(source: AsyncIterable<Buffer>, artifactsDir: string | null, h: ResponseHandlers = {}): Promise<ResponseResult> {
  // a pipe from qrexec-client-vm is read ahead, so that the sender never waits on our disk
  const reader = new FrameReader(source instanceof Readable ? readAhead(source) : source, { allowed: RESPONSE_FRAMES });
  await reader.readStreamHeader('response');
  let manifest: Manifest | null = null;
  let record: EnvironmentRecord | null = null;
  let verify: VerifyReport | null = null;
  let next = 0;
  let open: OpenArtifact | null = null;
  let totalBytes = 0;
  let receivedBytes = 0;
  const symlinks: Array<{ file: string; target: string }> = [];


  try {
    for (;;) {
      const fh = await reader.nextHeader();
      if (!fh) throw new ProtocolError('PROTOCOL_TRUNCATED', 'the response ended without its final status');
      if (open && fh.type !== FrameType.data) order(`artifact ${open.entry.path} ended after ${open.received} of ${open.entry.size} bytes`);
      if (fh.type === FrameType.data) {
        // bytes of an artifact: hashed and written piece by piece, as they arrived
        if (!open) order('artifact data outside an artifact');
        if (open.received + fh.length > open.entry.size) {
          throw new ClientError('CLIENT_INTEGRITY', `artifact ${open.entry.path} is longer than its manifest says (${open.entry.size} bytes)`, { kind: 'integrity' });
        }
        const a = open;
        await reader.payloadTo(fh, (piece) => {
          a.hash.update(piece);
          return a.out.write(piece) ? undefined : drained(a.out);
        });
        open.received += fh.length;
        receivedBytes += fh.length;
        h.onBytes?.(receivedBytes, totalBytes);
        if (open.received === open.entry.size) open = await closeArtifact(open);
        continue;
      }
      const f = { type: fh.type, payload: await reader.payload(fh) };
      switch (f.type) {
        case FrameType.queued:
          h.onQueued?.(parseJsonFrame(f, QueuedSchema));
          break;
        case FrameType.event:
          if (manifest) order('a log event after the manifest');
          h.onEvent?.(parseJsonFrame(f, EventFrameSchema));
          break;
        case FrameType.verify:
          if (verify || manifest) order('an unexpected verify report');
          verify = parseJsonFrame(f, VerifyReportSchema);
          break;
        case FrameType.record:
          if (record) order('a second environment record');
          record = parseJsonFrame(f, EnvironmentRecordSchema);
          break;
        case FrameType.manifest: {
          if (manifest) order('a second manifest');
          manifest = parseJsonFrame(f, ManifestSchema);
          const seen = new Set<string>();
          for (const a of manifest.artifacts) {
            safeRelativePath(a.path, 'artifact');
            if (seen.has(a.path)) throw new ProtocolError('PROTOCOL_SCHEMA', `manifest lists ${a.path} twice`);
            seen.add(a.path);
            totalBytes += a.size;
          }
          break;
        }
        case FrameType.artifact: {
          if (!manifest) order('an artifact before the manifest');
          if (!artifactsDir) order('an artifact in a response that carries none');
          // (info responses carry a record and no manifest; a build's success needs both)
          const header = parseJsonFrame(f, ArtifactHeaderSchema);
          const entry = manifest.artifacts[next];
          if (!entry) order(`artifact ${header.path} is not in the manifest`);
          if (header.path !== entry.path || header.size !== entry.size || header.sha256 !== entry.sha256) {
            throw new ClientError('CLIENT_INTEGRITY', `artifact ${header.path} does not match the manifest entry ${entry.path}`, { kind: 'integrity' });
          }
          const parts = safeRelativePath(entry.path, 'artifact');
          const file = path.join(artifactsDir, ...parts);
          await makeParents(artifactsDir, parts);
          h.onArtifact?.(next, manifest.artifacts.length, entry);
          next++;
          if (header.symlink !== null) {
            const sha = createHash('sha256').update(`symlink\0${header.symlink}`).digest('hex');
            if (entry.size !== 0 || sha !== entry.sha256) throw new ClientError('CLIENT_INTEGRITY', `symlink artifact ${entry.path} does not match its manifest`, { kind: 'integrity' });
            // created last, so that no file is ever written through a link
            symlinks.push({ file, target: header.symlink });
            break;
          }
          const fh = await fs.open(file, FS.O_WRONLY | FS.O_CREAT | FS.O_EXCL | FS.O_NOFOLLOW, fileMode(header.executable));
          // the mode the rule gives, whatever the caller's umask (as a local build publishes)
          await fh.chmod(fileMode(header.executable));
          open = { entry, file, fh, out: fh.createWriteStream({ highWaterMark: 4 * 1024 * 1024 }), hash: createHash('sha256'), received: 0 };
          if (entry.size === 0) open = await closeArtifact(open);
          break;
        }
        case FrameType.status: {
          const status = parseJsonFrame(f, FinalStatusSchema);
          await reader.expectEnd();
          if (status.ok && artifactsDir) {
            if (!manifest) throw new ProtocolError('PROTOCOL_ORDER', 'success without a manifest');
            if (next !== manifest.artifacts.length) {
              throw new ProtocolError('PROTOCOL_TRUNCATED', `success after ${next} of ${manifest.artifacts.length} artifacts`);
            }
          }
          for (const s of symlinks) await fs.symlink(s.target, s.file);
          return { status, manifest, record, verify, artifacts: next };
        }
        default:
          order(`unexpected frame 0x${f.type.toString(16)}`);
      }
    }
  } finally {
    const o = open as OpenArtifact | null;
    if (o) {
      o.out.destroy();
      await o.fh.close().catch(() => undefined);
    }
  }
}

function order(what: string): never {
  throw new ProtocolError('PROTOCOL_ORDER', what);
}

async function closeArtifact(a: OpenArtifact): Promise<null> {
  // the stream owns the descriptor: it closes it once everything is written
  await new Promise<void>((resolve, reject) => {
    a.out.once('error', reject);
    a.out.once('close', () => resolve());
    a.out.end();
  });
  if (a.hash.digest('hex') !== a.entry.sha256) {
    await fs.rm(a.file, { force: true });
    throw new ClientError('CLIENT_INTEGRITY', `artifact ${a.entry.path} does not match the sha256 of its manifest`, { kind: 'integrity' });
  }
  return null;
}

function drained(out: WriteStream): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      out.off('drain', onDrain);
      out.off('error', done);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = () => done();
    out.once('drain', onDrain);
    out.once('error', done);
  });
}

/** Creates the parents of an artifact; none may be anything but a directory we made. */
async function makeParents(root: string, parts: string[]): Promise<void> {
  let dir = root;
  for (const p of parts.slice(0, -1)) {
    dir = path.join(dir, p);
    try {
      const st = await fs.lstat(dir);
      if (!st.isDirectory()) throw new ClientError('CLIENT_INTEGRITY', `artifact path goes through ${p}, which is not a directory`, { kind: 'integrity' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      await fs.mkdir(dir, { mode: DIR_MODE });
      await fs.chmod(dir, DIR_MODE);
    }
  }
}
