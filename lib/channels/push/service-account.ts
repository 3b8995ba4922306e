/** A Google service account key file (JSON), checked before firebase-admin sees it. */
import { createPrivateKey } from 'node:crypto';

export interface ServiceAccountJson {
  type: 'service_account';
  project_id?: string;
  client_email: string;
  private_key: string;
  [field: string]: unknown;
}

export type ServiceAccountProblem = 'missing' | 'not-json' | 'not-service-account' | 'no-client-email' | 'no-private-key' | 'bad-private-key';

export type ServiceAccountCheck = { ok: true; account: ServiceAccountJson } | { ok: false; problem: ServiceAccountProblem };

export function checkServiceAccount(text: string | undefined): ServiceAccountCheck {
  if (!text || text.trim() === '') return { ok: false, problem: 'missing' };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, problem: 'not-json' };
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return { ok: false, problem: 'not-json' };
  const fields = json as Record<string, unknown>;
  if (fields.type !== 'service_account') return { ok: false, problem: 'not-service-account' };
  if (typeof fields.client_email !== 'string' || !fields.client_email.includes('@')) return { ok: false, problem: 'no-client-email' };
  if (typeof fields.private_key !== 'string' || fields.private_key.trim() === '') return { ok: false, problem: 'no-private-key' };
  try {
    createPrivateKey(fields.private_key);
  } catch {
    return { ok: false, problem: 'bad-private-key' };
  }
  return { ok: true, account: fields as ServiceAccountJson };
}
