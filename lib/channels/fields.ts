/** Each channel's template fields and how each is escaped: only email HTML is HTML. */
import type { ChannelName } from './delivery.js';
import { TemplateSet, type TemplateKind } from './template.js';

export const CHANNEL_FIELDS = {
  email: { subject: 'text', html: 'html', text: 'text' },
  sms: { body: 'text' },
  push: { title: 'text', body: 'text', link: 'text' },
} as const satisfies Record<ChannelName, Record<string, TemplateKind>>;

export type ChannelField<C extends ChannelName> = keyof (typeof CHANNEL_FIELDS)[C] & string;

/** Compiles a channel's templates from their sources (a missing field is empty); throws a TemplateError for a bad one. */
export function channelTemplates<C extends ChannelName>(channel: C, sources: Partial<Record<string, unknown>>): TemplateSet<ChannelField<C>> {
  const fields = CHANNEL_FIELDS[channel] as Record<string, TemplateKind>;
  const spec = Object.fromEntries(
    Object.entries(fields).map(([field, kind]) => [field, { source: typeof sources[field] === 'string' ? (sources[field] as string) : '', kind }]),
  );
  return new TemplateSet(spec as Record<ChannelField<C>, { source: string; kind: TemplateKind }>);
}
