/**
 * A request's body as its sender wrote it, for routes that check a signature over it and
 * so cannot use a body parser of their own. Capped: a larger body is refused unread.
 */
import type { Request } from 'express';

/** The bytes; null when over `limit`; `{ parsed }` when a parser upstream (Node-RED's admin API on a shared root, httpNodeMiddleware) has read the stream already. */
export type RawBody = Buffer | null | { parsed: unknown };

export async function readRawBody(req: Request, limit: number): Promise<RawBody> {
  const upstream = req as Request & { _body?: boolean };
  if (upstream._body || req.readableEnded) return { parsed: upstream.body as unknown };
  if (Number(req.get('content-length') ?? 0) > limit) return null;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) return null;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
