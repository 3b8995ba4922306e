/** The outcome of checking untrusted input: a value to use, or a reason a user can read. */
export type Checked<T> = { ok: true; value: T } | { ok: false; code: RejectCode; reason: string };

export type RejectCode =
  | 'NOT_AN_OBJECT'
  | 'BAD_NAME'
  | 'NO_IDENTITY'
  | 'BAD_IDENTITY'
  | 'BAD_KEY'
  | 'BAD_VALUE'
  | 'TOO_LARGE'
  | 'TOO_DEEP'
  | 'BAD_TIMESTAMP'
  | 'BAD_MESSAGE_ID'
  | 'BAD_TRAIT'
  | 'BAD_RULE'
  | 'DUPLICATE'
  /** The same messageId is being processed (or its taker died and its lease has not run out yet). */
  | 'IN_PROGRESS';

export const accept = <T>(value: T): Checked<T> => ({ ok: true, value });
export const reject = <T>(code: RejectCode, reason: string): Checked<T> => ({ ok: false, code, reason });
