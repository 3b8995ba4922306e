/**
 * The timeout and retry settings every account config node (email, Twilio, FCM) has, read
 * from its flow definition: empty fields take lib's defaults.
 */
import { retrySettingsProblem, type RetrySettings } from '../../lib/index.js';

export interface AccountRetryDef {
  /** Seconds a provider may take to answer, per step. */
  timeout?: number | string;
  /** Attempts in all, the first included. */
  attempts?: number | string;
  /** Seconds before the first retry; each later one waits twice as long. */
  retryDelay?: number | string;
}

/** An optional numeric field of a flow definition: a blank one is unset. */
export const numberOrNone = (value: number | string | undefined): number | undefined =>
  value === undefined || String(value).trim() === '' ? undefined : Number(value);

export function accountRetry(def: AccountRetryDef): { ok: true; settings: RetrySettings } | { ok: false; problem: string } {
  const settings: RetrySettings = {};
  const timeoutSeconds = numberOrNone(def.timeout);
  const attempts = numberOrNone(def.attempts);
  const firstRetrySeconds = numberOrNone(def.retryDelay);
  if (timeoutSeconds !== undefined) settings.timeoutSeconds = timeoutSeconds;
  if (attempts !== undefined) settings.attempts = attempts;
  if (firstRetrySeconds !== undefined) settings.firstRetrySeconds = firstRetrySeconds;
  const problem = retrySettingsProblem(settings);
  return problem ? { ok: false, problem } : { ok: true, settings };
}
