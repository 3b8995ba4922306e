/**
 * How a provider account retries a send that failed for now (a timeout, 5xx, 429): how many
 * attempts, how long between them, and how long one call to the provider may take. An
 * account's settings, so that each provider backs off on its own terms.
 */

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  attempts: number;
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseMs: 1_000, maxMs: 60_000 };

/** An account's retry and timeout settings as a user gives them, in seconds. */
export interface RetrySettings {
  attempts?: number;
  firstRetrySeconds?: number;
  timeoutSeconds?: number;
}

export const RETRY_LIMITS = { attempts: 20, firstRetrySeconds: 3_600, timeoutSeconds: 600 };
export const DEFAULT_TIMEOUT_SECONDS = 30;

/** The longest a send waits for its next attempt: a provider asking for more (Retry-After) gets no retry. */
export const longestWaitMs = (policy: RetryPolicy): number => 10 * policy.maxMs;

export function backoffMs(policy: RetryPolicy, attempt: number, retryAfterMs?: number, random: () => number = Math.random): number {
  const exponential = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  // ±20 % so that many deliveries failing together do not retry together.
  const jittered = exponential * (0.8 + 0.4 * random());
  return Math.round(Math.min(Math.max(jittered, retryAfterMs ?? 0), longestWaitMs(policy)));
}

export function retrySettingsProblem(settings: RetrySettings): string | null {
  const { attempts, firstRetrySeconds, timeoutSeconds } = settings;
  if (attempts !== undefined && (!Number.isInteger(attempts) || attempts < 1 || attempts > RETRY_LIMITS.attempts)) {
    return `attempts must be a whole number from 1 to ${RETRY_LIMITS.attempts}`;
  }
  if (firstRetrySeconds !== undefined && !(firstRetrySeconds > 0 && firstRetrySeconds <= RETRY_LIMITS.firstRetrySeconds)) {
    return `the first retry must come after more than 0 and at most ${RETRY_LIMITS.firstRetrySeconds} seconds`;
  }
  if (timeoutSeconds !== undefined && !(timeoutSeconds > 0 && timeoutSeconds <= RETRY_LIMITS.timeoutSeconds)) {
    return `the timeout must be more than 0 and at most ${RETRY_LIMITS.timeoutSeconds} seconds`;
  }
  return null;
}

/** The policy for these settings; the wait doubles from the first retry's up to a minute (or the first's, if longer). */
export function retryPolicyOf(settings: RetrySettings): RetryPolicy {
  const baseMs = settings.firstRetrySeconds !== undefined ? Math.round(settings.firstRetrySeconds * 1000) : DEFAULT_RETRY.baseMs;
  return { attempts: settings.attempts ?? DEFAULT_RETRY.attempts, baseMs, maxMs: Math.max(DEFAULT_RETRY.maxMs, baseMs) };
}

export const timeoutMsOf = (settings: RetrySettings): number => Math.round((settings.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000);

/**
 * Settles with `work`, or with `late()` if `work` takes longer than `ms`. For SDK calls that
 * take no timeout of their own: the call itself goes on, and its answer is ignored.
 */
export function withDeadline<T>(work: Promise<T>, ms: number, late: () => T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(late()), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}
