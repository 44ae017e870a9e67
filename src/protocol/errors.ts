import { DetbuildError, type ErrorKind } from '../errors.js';

/**
 * A stream that does not follow the wire format: bad magic or version, an unknown or
 * oversized frame, a frame out of order, invalid JSON, or a stream that ends early.
 * Codes: PROTOCOL_MAGIC, PROTOCOL_VERSION, PROTOCOL_KIND, PROTOCOL_FRAME_TYPE,
 * PROTOCOL_FRAME_SIZE, PROTOCOL_TRUNCATED, PROTOCOL_JSON, PROTOCOL_SCHEMA, PROTOCOL_ORDER,
 * PROTOCOL_PATH, PROTOCOL_TRAILING. The reader's input is at fault: a request refused by
 * the builder; the client reports a broken response as a transport error.
 */
export class ProtocolError extends DetbuildError {
  static override readonly kindOfClass: ErrorKind = 'bad-input';
}
