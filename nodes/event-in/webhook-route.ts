/**
 * The route event-in nodes receive signed webhooks on: POST /journeys/hooks/<name>. One
 * route per runtime; each deployed event-in with a webhook name registers itself here and
 * leaves on close. The body is read raw (the signature is over its bytes), capped, checked,
 * then parsed and handed to the node, whose outcome decides the answer.
 */
import type { Request, Response } from 'express';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, verifyWebhook, WEBHOOK_BODY_LIMIT } from '../../lib/index.js';
import type { NodeAPI } from '../shared/red.js';
import { readRawBody } from '../shared/request-body.js';

/** What the node did with the event: 202 for accepted or recorded, 400 with the reason for invalid, 503 when busy. */
export type HookOutcome = { status: number; body: Record<string, unknown>; headers?: Record<string, string> };

export interface Hook {
  secret(): string;
  receive(payload: unknown): Promise<HookOutcome>;
}

const hooks = new Map<string, Hook>();
const registered = new WeakSet<object>();

export function registerHook(name: string, hook: Hook): () => void {
  hooks.set(name, hook);
  return () => {
    if (hooks.get(name) === hook) hooks.delete(name);
  };
}

export const hookPath = (name: string) => `/journeys/hooks/${encodeURIComponent(name)}`;

/**
 * The body's bytes, or null when it is over the limit. When Node-RED's admin API shares the
 * HTTP root with the nodes (both `/`, the default), its JSON parser has read a JSON body
 * before any node route sees it: the signature is then checked over that JSON written
 * compactly, which is the body itself when the sender sent compact JSON (as the README's
 * example does).
 */
async function readBody(req: Request): Promise<Buffer | null> {
  const body = await readRawBody(req, WEBHOOK_BODY_LIMIT);
  if (body === null || Buffer.isBuffer(body)) return body;
  const { parsed } = body;
  const bytes = Buffer.isBuffer(parsed) ? parsed : Buffer.from(typeof parsed === 'string' ? parsed : JSON.stringify(parsed ?? null));
  return bytes.length > WEBHOOK_BODY_LIMIT ? null : bytes;
}

export function registerWebhookRoute(RED: NodeAPI): void {
  if (registered.has(RED.httpNode)) return;
  registered.add(RED.httpNode);
  RED.httpNode.post('/journeys/hooks/:hook', (req: Request, res: Response) => {
    void (async () => {
      const hook = hooks.get(String(req.params.hook ?? ''));
      const body = await readBody(req);
      if (body === null) return void res.status(413).json({ accepted: false, error: { code: 'TOO_LARGE', message: `the body is over ${WEBHOOK_BODY_LIMIT} bytes` } });
      // An unknown hook answers like a bad signature: nothing tells a caller which names exist.
      const checked = hook ? verifyWebhook(hook.secret(), req.headers[SIGNATURE_HEADER], req.headers[TIMESTAMP_HEADER], body, new Date()) : { ok: false as const, reason: 'the signature does not match' };
      if (!checked.ok) return void res.status(401).json({ accepted: false, error: { code: 'BAD_SIGNATURE', message: checked.reason } });
      let payload: unknown;
      try {
        payload = JSON.parse(body.toString('utf8'));
      } catch {
        return void res.status(400).json({ accepted: false, error: { code: 'NOT_JSON', message: 'the body is not JSON' } });
      }
      const outcome = await hook!.receive(payload);
      res.status(outcome.status).set(outcome.headers ?? {}).json(outcome.body);
    })().catch((err: Error) => {
      // The store is down, say: 503 tells the sender to try again later.
      if (!res.headersSent) res.status(503).json({ accepted: false, error: { code: 'UNAVAILABLE', message: err.message } });
    });
  });
}
