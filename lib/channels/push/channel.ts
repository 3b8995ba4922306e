/** The push channel's part of a send: its addresses are the profile's tokens, and the tokens FCM reports dead are removed. */
import type { ChannelSpec } from '../send.js';
import { pushTokens } from './address.js';
import { removePushTokens } from './tokens.js';

export type PushField = 'title' | 'body' | 'link';

export function pushChannel(): ChannelSpec<PushField> {
  return { channel: 'push', addresses: pushTokens, dropAddresses: removePushTokens };
}
