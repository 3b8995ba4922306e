/**
 * The editor's template preview: POST /journeys/send/preview renders a sender's templates
 * against a sample profile (or a stored one) and answers with the result or the error's
 * field, line and cause. Behind Node-RED's admin auth.
 */
import type { Request, Response } from 'express';
import { CHANNELS, channelTemplates, findLiveProfile, TemplateError, type ChannelName } from '../../lib/index.js';
import type { NodeAPI } from './red.js';
import { findStoreConfig } from './store-client.js';

const registered = new WeakSet<object>();

interface PreviewBody {
  channel?: unknown;
  fields?: Record<string, unknown>;
  profile?: unknown;
  profileId?: unknown;
  store?: unknown;
  event?: unknown;
}

export function registerPreview(RED: NodeAPI): void {
  if (registered.has(RED.httpAdmin)) return;
  registered.add(RED.httpAdmin);
  RED.httpAdmin.post('/journeys/send/preview', RED.auth.needsPermission('journeys.read'), (req: Request, res: Response) => {
    void preview(RED, (req.body ?? {}) as PreviewBody).then(
      (answer) => res.status(answer.status).json(answer.body),
      (err: Error) => res.status(500).json({ ok: false, error: err.message }),
    );
  });
}

async function preview(RED: NodeAPI, body: PreviewBody): Promise<{ status: number; body: object }> {
  if (!CHANNELS.includes(body.channel as ChannelName)) return { status: 400, body: { ok: false, error: `channel must be one of ${CHANNELS.join(', ')}` } };
  const channel = body.channel as ChannelName;
  let profile: unknown = body.profile ?? {};
  if (typeof body.profileId === 'string' && body.profileId !== '') {
    const config = findStoreConfig(RED, typeof body.store === 'string' ? body.store : undefined);
    if (!config) return { status: 404, body: { ok: false, error: 'deploy the journey store first to preview with a stored profile' } };
    const store = await config.getStore();
    const found = await findLiveProfile(store, body.profileId);
    if (!found) return { status: 404, body: { ok: false, error: `no profile ${JSON.stringify(body.profileId)}` } };
    profile = { id: found._id, traits: found.traits, identities: found.identities, consent: found.consent, createdAt: found.createdAt };
  }
  try {
    const templates = channelTemplates(channel, body.fields ?? {});
    const rendered = templates.render({
      profile,
      event: body.event ?? { name: 'sample_event', properties: {} },
      journey: { name: 'preview', instanceId: 'preview' },
      msg: {},
      unsubscribeUrl: 'https://example.invalid/unsubscribe',
    });
    return { status: 200, body: { ok: true, fields: rendered } };
  } catch (err) {
    if (err instanceof TemplateError) return { status: 200, body: { ok: false, field: err.field, line: err.line ?? null, error: err.message } };
    throw err;
  }
}
