/**
 * Reads one request stream (header, recipe, tar chunks, end) and extracts the sources.
 * Everything about it is untrusted: sizes and counts are limited, the archive is
 * extracted safely, and a stream without its end frame is a truncated request.
 */
import { createHash } from 'node:crypto';
import { FrameType, REQUEST_FRAMES } from '../../protocol/constants.js';
import { ProtocolError } from '../../protocol/errors.js';
import { RecipeSchema, RequestEndSchema, type Recipe } from '../../protocol/messages.js';
import { FrameReader, parseJsonFrame } from '../../protocol/reader.js';
import { RequestError } from '../errors.js';
import { SourceExtractor, type ExtractSummary } from './extract.js';

export interface RequestLimits {
  maxRequestBytes: number;
  maxRequestFiles: number;
}

export interface ReceivedRequest {
  recipe: Recipe;
  tarBytes: number;
  sources: ExtractSummary;
}

/**
 * Reads a request from `source` into `sourceDir` (an empty directory). Throws
 * ProtocolError for a stream that breaks the wire format and RequestError for one the
 * builder refuses; both are bad input (status 'rejected', src/outcome.ts).
 */
export async function readRequest(
  source: AsyncIterable<Buffer>,
  sourceDir: string,
  limits: RequestLimits,
): Promise<ReceivedRequest> {
  const reader = new FrameReader(source, { allowed: REQUEST_FRAMES });
  await reader.readStreamHeader('request');

  const first = await reader.next();
  if (!first) throw new ProtocolError('PROTOCOL_TRUNCATED', 'the request ended before its recipe');
  if (first.type !== FrameType.recipe) throw new ProtocolError('PROTOCOL_ORDER', 'the request must start with its recipe');
  const recipe = parseJsonFrame(first, RecipeSchema);

  const extractor = new SourceExtractor(sourceDir, { maxEntries: limits.maxRequestFiles });
  const hash = createHash('sha256');
  let tarBytes = 0;
  try {
    for (;;) {
      const f = await reader.next();
      if (!f) throw new ProtocolError('PROTOCOL_TRUNCATED', `the request was truncated after ${tarBytes} bytes of sources (no end frame)`);
      if (f.type === FrameType.sourceChunk) {
        tarBytes += f.payload.length;
        if (tarBytes > limits.maxRequestBytes) {
          throw new RequestError('REQUEST_TOO_LARGE', `the sources exceed ${limits.maxRequestBytes} bytes (the builder's limit)`);
        }
        hash.update(f.payload);
        await extractor.write(f.payload);
        continue;
      }
      if (f.type === FrameType.requestEnd) {
        const end = parseJsonFrame(f, RequestEndSchema);
        if (end.tarBytes !== tarBytes) {
          throw new ProtocolError('PROTOCOL_TRUNCATED', `the request announced ${end.tarBytes} bytes of sources but carried ${tarBytes}`);
        }
        if (end.tarSha256 !== hash.digest('hex')) {
          throw new ProtocolError('PROTOCOL_CHECKSUM', 'the sources do not match the sha256 their end frame announced');
        }
        break;
      }
      throw new ProtocolError('PROTOCOL_ORDER', 'a second recipe frame in the request');
    }
    const sources = await extractor.finish();
    return { recipe, tarBytes, sources };
  } catch (err) {
    extractor.abort(err as Error);
    throw err;
  }
}
