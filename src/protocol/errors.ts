import { DetbuildError } from '../errors.js';

/**
 * A stream that does not follow the wire format: bad magic or version, an unknown or
 * oversized frame, a frame out of order, invalid JSON, or a stream that ends early.
 * Codes: PROTOCOL_MAGIC, PROTOCOL_VERSION, PROTOCOL_KIND, PROTOCOL_FRAME_TYPE,
 * PROTOCOL_FRAME_SIZE, PROTOCOL_TRUNCATED, PROTOCOL_JSON, PROTOCOL_SCHEMA, PROTOCOL_ORDER,
 * PROTOCOL_PATH, PROTOCOL_TRAILING.
 */
export class ProtocolError extends DetbuildError {}
