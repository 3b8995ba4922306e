/**
 * fcm-account (config): a Firebase project to send push through. The service account key
 * file is a credential, never in the flow file. It owns one firebase app for all the
 * send-push nodes that use it, deleted when it closes, and hands each node the tokens FCM
 * reported dead so that node can remove them from its own store.
 */
import { checkServiceAccount, fcmProvider, parseEndpoint } from '../../lib/channels/push/index.js';
import type { Provider } from '../../lib/index.js';
import { accountRetry, type AccountRetryDef } from '../shared/account-retry.js';
import type { AccountNode } from '../shared/sender.js';
import { registerNode, type NodeAPI, type NodeDef } from '../shared/red.js';

interface FcmAccountDef extends NodeDef, AccountRetryDef {
  projectId?: string;
  endpoint?: string;
}

interface Credentials {
  serviceAccount?: string;
}

export = function (RED: NodeAPI): void {
  function FcmAccountNode(this: AccountNode, def: FcmAccountDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const credentials = (node.credentials ?? {}) as Credentials;
    let made: (Provider & { close(): Promise<void> }) | null = null;

    node.provider = () => {
      if (made) return made;
      const checked = checkServiceAccount(credentials.serviceAccount);
      if (!checked.ok) return new Error(RED._(`fcm-account.errors.${checked.problem}`));
      const projectId = def.projectId?.trim() || checked.account.project_id?.trim() || '';
      if (!projectId) return new Error(RED._('fcm-account.errors.no-project'));
      const endpoint = def.endpoint?.trim() || '';
      const retry = accountRetry(def);
      if (!retry.ok) return new Error(RED._('journeys.account.errors.bad-settings', { reason: retry.problem }));
      try {
        if (endpoint) parseEndpoint(endpoint);
      } catch (err) {
        return new Error(RED._('fcm-account.errors.bad-endpoint', { reason: (err as Error).message }));
      }
      try {
        made = fcmProvider({ serviceAccount: checked.account, projectId, label: node.id, ...(endpoint ? { endpoint } : {}), ...retry.settings });
      } catch (err) {
        return new Error(RED._('fcm-account.errors.firebase', { reason: (err as Error).message }));
      }
      return made;
    };

    node.on('close', (_removed: boolean, done: () => void) => {
      const closing = made?.close();
      made = null;
      // Deleting the firebase app ends its pending work; a redeploy makes a new one under a new name.
      (closing ?? Promise.resolve()).then(
        () => done(),
        (err: Error) => {
          node.warn(RED._('fcm-account.errors.close', { reason: err.message }));
          done();
        },
      );
    });
  }

  registerNode(RED, 'fcm-account', FcmAccountNode, {
    credentials: { serviceAccount: { type: 'password' } },
  });
};
