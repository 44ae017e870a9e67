/**
 * Safe extraction of an untrusted tar archive (the caller's sources) into an empty
 * directory. Hostile entries are refused, never skipped: the whole request fails with
 * REQUEST_* and the caller cleans the directory.
 *
 * Refused: absolute paths and '..' (safeRelativePath), any write through a symlink or a
 * non-directory, symlinks whose target resolves outside the tree (checked on the final
 * tree, following every link), hard links to anything but a regular file already in the
 * tree, device nodes, FIFOs and every other entry type, duplicate entries, compressed
 * archives, more entries than the limit, entry types node-tar would skip (GNU sparse files,
 * unknown types, oversized extended headers), a NUL inside an extended header (a PAX record
 * or a GNU long name, which node-tar would cut there), names and link targets that are not
 * UTF-8 (node-tar would turn them into U+FFFD; a literal U+FFFD is refused with them). Modes
 * are reduced to 0755/0644; modification times are kept (the engine uses none of them: its
 * copy sets every time to the epoch).
 */
import { constants as FS, createWriteStream, linkSync, lstatSync, lutimesSync, mkdirSync, openSync, readlinkSync, symlinkSync, chmodSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { Parser, type ReadEntry } from 'tar';
import { DIR_MODE, fileMode, isExecutable } from '../../engine/modes.js';
import { ProtocolError } from '../../protocol/errors.js';
import { safeRelativePath } from '../../protocol/paths.js';
import { RequestError } from '../errors.js';

export interface ExtractLimits {
  /** most entries of any kind */
  maxEntries: number;
}

export interface ExtractSummary {
  entries: number;
  files: number;
  bytes: number;
}

const MAX_SYMLINK_HOPS = 40;

export class SourceExtractor {
  private readonly parser: Parser;
  private failure: Error | null = null;
  private readonly pending: Promise<void>[] = [];
  private readonly symlinks: Array<{ parts: string[]; target: string }> = [];
  private readonly seen = new Set<string>();
  private entries = 0;
  private files = 0;
  private bytes = 0;
  private firstChunk = true;
  private parserDone: Promise<void>;

  constructor(
    private readonly root: string,
    private readonly limits: ExtractLimits,
  ) {
    this.parser = new Parser({ strict: true });
    this.parser.on('entry', (entry: ReadEntry) => {
      try {
        this.onEntry(entry);
      } catch (err) {
        this.fail(err as Error);
        entry.resume();
      }
    });
    // entries node-tar would skip silently: refused like every other unknown type
    this.parser.on('ignoredEntry', (entry: ReadEntry) => {
      const why = entry.meta
        ? `an extended header of ${entry.size} bytes is more than node-tar reads`
        : entry.type === 'Unsupported' || !entry.type
          ? 'entries of an unknown type are not accepted'
          : `entries of type ${entry.type} are not accepted`;
      this.fail(new RequestError('REQUEST_UNSAFE_ENTRY', `entry ${JSON.stringify(String(entry.path ?? '').slice(0, 200))} refused: ${why}`));
      entry.resume();
    });
    // the text of each PAX header or GNU long name, before node-tar cuts it at the first NUL
    this.parser.on('meta', (text: string) => {
      if (this.failure) return;
      const body = text.replace(/\0+$/, '');
      if (body.includes('\0')) {
        this.fail(new RequestError('REQUEST_UNSAFE_ENTRY', 'an extended header (PAX record or GNU long name) holds a NUL: the name it carries would be cut there'));
      } else if (body.includes('\uFFFD')) {
        this.fail(new RequestError('REQUEST_UNSAFE_ENTRY', 'an extended header (PAX record or GNU long name) is not valid UTF-8'));
      }
    });
    this.parserDone = new Promise((resolve) => {
      this.parser.on('error', (err: Error) => {
        this.fail(new RequestError('REQUEST_TAR', `the source archive is malformed: ${err.message}`, { cause: err }));
        resolve();
      });
      this.parser.on('close', () => resolve());
      this.parser.on('end', () => resolve());
    });
  }

  /** Feeds the next bytes of the archive; rejects as soon as a hostile entry was seen. */
  async write(chunk: Buffer): Promise<void> {
    this.check();
    if (this.firstChunk && chunk.length > 0) {
      this.firstChunk = false;
      refuseCompressed(chunk);
    }
    const ok = this.parser.write(chunk);
    if (!ok) {
      await Promise.race([new Promise<void>((resolve) => this.parser.once('drain', () => resolve())), this.parserDone]);
    }
    this.check();
  }

  /** Ends the archive, waits for every file to be written, then checks every symlink. */
  async finish(): Promise<ExtractSummary> {
    this.check();
    this.parser.end();
    await this.parserDone;
    await Promise.allSettled(this.pending);
    this.check();
    await Promise.all(this.pending);
    for (const l of this.symlinks) this.checkSymlink(l.parts, l.target);
    return { entries: this.entries, files: this.files, bytes: this.bytes };
  }

  /** Stops extracting (the request failed elsewhere). */
  abort(err: Error): void {
    this.fail(err);
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    this.parser.abort(err);
  }

  private check(): void {
    if (this.failure) throw this.failure;
  }

  private onEntry(entry: ReadEntry): void {
    if (this.failure) {
      entry.resume();
      return;
    }
    const raw = entry.path;
    // node-tar decodes names as UTF-8, replacing what is not with U+FFFD
    if (raw.includes('\uFFFD')) refuse(raw, 'its name is not valid UTF-8');
    if (entry.linkpath?.includes('\uFFFD')) refuse(raw, 'its link target is not valid UTF-8');
    let path = raw;
    while (path.startsWith('./')) path = path.slice(2);
    if (path === '' || path === '.') {
      // the archive's root directory itself (tar -C dir -cf - .)
      if (entry.type !== 'Directory') refuse(raw, 'the archive root must be a directory');
      entry.resume();
      return;
    }
    if (++this.entries > this.limits.maxEntries) {
      throw new RequestError('REQUEST_TOO_MANY_FILES', `the sources have more than ${this.limits.maxEntries} entries (the builder's limit)`);
    }
    const parts = checkedPath(path, 'entry');
    const key = parts.join('/');
    if (this.seen.has(key)) refuse(raw, 'duplicate entry');
    this.seen.add(key);
    const dest = join(this.root, ...parts);

    switch (entry.type) {
      case 'Directory': {
        this.ensureParents(parts, raw);
        this.mkdirChecked(dest, raw);
        entry.resume();
        return;
      }
      case 'File':
      case 'OldFile':
      case 'ContiguousFile': {
        this.ensureParents(parts, raw);
        const mode = fileMode(isExecutable(entry.mode ?? 0));
        let fd: number;
        try {
          fd = openSync(dest, FS.O_WRONLY | FS.O_CREAT | FS.O_EXCL | FS.O_NOFOLLOW, mode);
        } catch (err) {
          throw new RequestError('REQUEST_UNSAFE_ENTRY', `entry ${JSON.stringify(raw)} refused: cannot create it (${(err as NodeJS.ErrnoException).code})`, { cause: err });
        }
        this.files++;
        this.bytes += entry.size;
        const out = createWriteStream('', { fd, autoClose: true });
        this.pending.push(
          new Promise<void>((resolve, reject) => {
            out.on('error', (err) => {
              const e = new RequestError('REQUEST_WRITE', `cannot write ${JSON.stringify(raw)}: ${err.message}`, { cause: err });
              this.fail(e);
              reject(e);
            });
            out.on('close', () => {
              if (entry.mtime) utimesSync(dest, entry.mtime, entry.mtime);
              resolve();
            });
            entry.pipe(out);
          }),
        );
        return;
      }
      case 'SymbolicLink': {
        const target = entry.linkpath ?? '';
        if (target === '') refuse(raw, 'symlink with an empty target');
        if (target.startsWith('/')) refuse(raw, `symlink to the absolute path ${JSON.stringify(target)} points outside the sources`);
        if (target.includes('\0')) refuse(raw, 'NUL in symlink target');
        this.ensureParents(parts, raw);
        // lexical first check (the full check runs on the final tree in finish())
        this.checkSymlinkLexically(parts, target, raw);
        try {
          symlinkSync(target, dest);
        } catch (err) {
          throw new RequestError('REQUEST_UNSAFE_ENTRY', `entry ${JSON.stringify(raw)} refused: cannot create the symlink (${(err as NodeJS.ErrnoException).code})`, { cause: err });
        }
        if (entry.mtime) lutimesSync(dest, entry.mtime, entry.mtime);
        this.symlinks.push({ parts, target });
        entry.resume();
        return;
      }
      case 'Link': {
        const target = entry.linkpath ?? '';
        if (target.startsWith('/')) refuse(raw, `hard link to the absolute path ${JSON.stringify(target)} points outside the sources`);
        let t = target;
        while (t.startsWith('./')) t = t.slice(2);
        const tparts = checkedPath(t, `hard link target of ${JSON.stringify(raw)}`);
        this.ensureParents(parts, raw);
        // the target must be a regular file this archive already created, reached without symlinks
        this.ensureParents(tparts, raw, false);
        const tdest = join(this.root, ...tparts);
        let st;
        try {
          st = lstatSync(tdest);
        } catch {
          refuse(raw, `hard link to ${JSON.stringify(target)}, which is not in the sources`);
        }
        if (!st!.isFile()) refuse(raw, `hard link to ${JSON.stringify(target)}, which is not a regular file`);
        try {
          linkSync(tdest, dest);
        } catch (err) {
          throw new RequestError('REQUEST_UNSAFE_ENTRY', `entry ${JSON.stringify(raw)} refused: cannot create the hard link (${(err as NodeJS.ErrnoException).code})`, { cause: err });
        }
        this.files++;
        entry.resume();
        return;
      }
      case 'CharacterDevice':
      case 'BlockDevice':
        refuse(raw, 'device nodes are not accepted');
        break;
      case 'FIFO':
        refuse(raw, 'FIFOs are not accepted');
        break;
      default:
        refuse(raw, `entries of type ${entry.type} are not accepted`);
    }
  }

  /** Creates (or checks) every parent directory; none may be a symlink or a file. */
  private ensureParents(parts: string[], raw: string, create = true): void {
    let dir = this.root;
    for (const p of parts.slice(0, -1)) {
      dir = join(dir, p);
      let st;
      try {
        st = lstatSync(dir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || !create) {
          refuse(raw, `its parent ${JSON.stringify(p)} is missing`);
        }
        mkdirSync(dir, { mode: DIR_MODE });
        continue;
      }
      if (st.isSymbolicLink()) refuse(raw, `its path goes through the symlink ${JSON.stringify(p)}`);
      if (!st.isDirectory()) refuse(raw, `its parent ${JSON.stringify(p)} is not a directory`);
    }
  }

  private mkdirChecked(dest: string, raw: string): void {
    try {
      mkdirSync(dest, { mode: DIR_MODE });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const st = lstatSync(dest);
      if (!st.isDirectory()) refuse(raw, 'a directory entry over an existing non-directory');
      chmodSync(dest, DIR_MODE);
    }
  }

  private checkSymlinkLexically(parts: string[], target: string, raw: string): void {
    const stack = parts.slice(0, -1);
    for (const c of target.split('/')) {
      if (c === '' || c === '.') continue;
      if (c === '..') {
        if (stack.length === 0) refuse(raw, `symlink to ${JSON.stringify(target)} points outside the sources`);
        stack.pop();
      } else stack.push(c);
    }
  }

  /**
   * Resolves a symlink the way the kernel would, inside the final tree, following every
   * symlink met on the way; refuses it if any step leaves the tree.
   */
  private checkSymlink(parts: string[], target: string): void {
    const raw = parts.join('/');
    const outside = (): never => refuse(raw, `symlink to ${JSON.stringify(target)} resolves outside the sources`);
    const stack = parts.slice(0, -1);
    let queue = target.split('/');
    let hops = 0;
    let exists = true;
    while (queue.length > 0) {
      const c = queue.shift()!;
      if (c === '' || c === '.') continue;
      if (c === '..') {
        if (stack.length === 0) outside();
        stack.pop();
        continue;
      }
      stack.push(c);
      if (!exists) continue;
      let st;
      try {
        st = lstatSync(join(this.root, ...stack));
      } catch {
        // dangling from here on: the kernel would stop at ENOENT, nothing below can escape
        exists = false;
        continue;
      }
      if (st.isSymbolicLink()) {
        if (++hops > MAX_SYMLINK_HOPS) refuse(raw, 'too many levels of symlinks');
        const next = readlinkSync(join(this.root, ...stack));
        if (next.startsWith('/')) outside();
        stack.pop();
        queue = [...next.split('/'), ...queue];
      }
    }
  }
}

function checkedPath(path: string, what: string): string[] {
  try {
    return safeRelativePath(path, what);
  } catch (err) {
    if (err instanceof ProtocolError) {
      throw new RequestError('REQUEST_UNSAFE_PATH', err.message, { cause: err });
    }
    throw err;
  }
}

function refuse(raw: string, why: string): never {
  throw new RequestError('REQUEST_UNSAFE_ENTRY', `entry ${JSON.stringify(raw.slice(0, 200))} refused: ${why}`);
}

function refuseCompressed(chunk: Buffer): void {
  const starts = (...b: number[]) => b.every((v, i) => chunk[i] === v);
  if (starts(0x1f, 0x8b) || starts(0x28, 0xb5, 0x2f, 0xfd) || starts(0x42, 0x5a, 0x68) || starts(0xfd, 0x37, 0x7a, 0x58, 0x5a)) {
    throw new RequestError('REQUEST_TAR', 'the sources must be an uncompressed tar archive (compression detected)');
  }
}
