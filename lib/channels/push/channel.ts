/** The push channel's part of a send: its addresses are the profile's tokens; content is sent as rendered. */
import type { ChannelSpec } from '../send.js';
import { pushTokens } from './address.js';

export type PushField = 'title' | 'body' | 'link';

export function pushChannel(): ChannelSpec<PushField> {
  return { channel: 'push', addresses: pushTokens };
}
