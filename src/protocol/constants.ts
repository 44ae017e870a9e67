/**
 * Wire format constants, version 1 (described in docs/QREXEC.md).
 *
 * A stream starts with a 12-byte header: the ASCII magic `DETBUILD`, the version as an
 * unsigned 16-bit big-endian integer, one byte naming the direction (`Q` request,
 * `R` response) and one reserved zero byte. Frames follow: a type byte, the payload
 * length as an unsigned 32-bit big-endian integer, then the payload.
 */
export const PROTOCOL_VERSION = 1;
export const MAGIC = Buffer.from('DETBUILD', 'ascii');
export const STREAM_HEADER_SIZE = 12;
export const FRAME_HEADER_SIZE = 5;

export const StreamKind = { request: 0x51, response: 0x52 } as const;
export type StreamKindName = keyof typeof StreamKind;

/** Largest payload of any frame: JSON frames (a manifest of many artifacts) can be large. */
export const MAX_FRAME_PAYLOAD = 16 * 1024 * 1024;
/** Size of the byte chunks a writer cuts sources and artifacts into. */
export const CHUNK_SIZE = 1024 * 1024;

/** Frame types. JSON frames carry UTF-8 JSON validated by the schemas in messages.ts. */
export const FrameType = {
  /** request, JSON Recipe; always the first request frame */
  recipe: 0x01,
  /** request, bytes: the next piece of the sources as a POSIX tar archive */
  sourceChunk: 0x02,
  /** request, JSON RequestEnd (tar size and sha256); its absence means a truncated request */
  requestEnd: 0x0f,
  /** response, JSON Queued: the request waits behind others */
  queued: 0x10,
  /** response, JSON BuildEventFrame: a stage change or a line of the live build log */
  event: 0x11,
  /** response, JSON Manifest of the returned artifacts */
  manifest: 0x20,
  /** response, JSON EnvironmentRecord of the builder */
  record: 0x21,
  /** response, JSON VerifyReport (verify mode only) */
  verify: 0x22,
  /** response, JSON ArtifactHeader; exactly `size` bytes of data frames follow */
  artifact: 0x30,
  /** response, bytes of the current artifact */
  data: 0x31,
  /** response, JSON FinalStatus; the last frame, the only one that says success */
  status: 0x7f,
} as const;
export type FrameTypeName = keyof typeof FrameType;

const names = new Map<number, FrameTypeName>(
  Object.entries(FrameType).map(([k, v]) => [v, k as FrameTypeName]),
);

export function frameTypeName(type: number): FrameTypeName | undefined {
  return names.get(type);
}

/** The frame types each direction may carry. */
export const REQUEST_FRAMES: ReadonlySet<number> = new Set([
  FrameType.recipe,
  FrameType.sourceChunk,
  FrameType.requestEnd,
]);
export const RESPONSE_FRAMES: ReadonlySet<number> = new Set([
  FrameType.queued,
  FrameType.event,
  FrameType.manifest,
  FrameType.record,
  FrameType.verify,
  FrameType.artifact,
  FrameType.data,
  FrameType.status,
]);
