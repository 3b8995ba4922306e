/**
 * The push channel in lib: tokens from the profile, firebase-admin's real requests routed
 * to a local FCM and token endpoint, what each FCM answer means, and forgetting dead tokens.
 */
import { expect } from 'chai';
import { generateKeyPairSync } from 'node:crypto';
import { COLLECTIONS, identityKey, type Delivery, type IdentityDoc, type Profile } from '../../lib/index.js';
import { checkServiceAccount, classifyFcmError, fcmProvider, parseEndpoint, pushTokens, removePushTokens, type ServiceAccountJson } from '../../lib/channels/push/index.js';
import { TestFcmApi } from '../support/fcm-api.js';
import { sleep } from '../support/timing.js';
import { forEachStore, profileDoc } from '../support/stores.js';

const at = new Date('2026-06-01T12:00:00Z');

function delivery(to: string[], content = { title: 'Hi Ada', body: 'Your cart misses you', link: 'https://shop.example.com/cart' }): Delivery {
  return {
    _id: `push:send:${to.join('+')}:${Math.random()}`,
    channel: 'push',
    node: 'send',
    journey: null,
    instanceId: null,
    profileId: 'p1',
    variant: null,
    to,
    content,
    status: 'sending',
    outbox: false,
    provider: 'fcm',
    attempts: 1,
    dueAt: at,
    opens: 0,
    clicks: 0,
    createdAt: at,
    updatedAt: at,
  };
}

describe('push channel', () => {
  describe('tokens on the profile', () => {
    it('are every deviceToken identity, once each; none is no-address', () => {
      expect(pushTokens(profileDoc('p1', { identities: { userId: ['p1'], deviceToken: ['t1', 't2', 't1'] } }))).to.deep.equal({ ok: true, to: ['t1', 't2'] });
      const none = pushTokens(profileDoc('p2'));
      expect(none).to.include({ ok: false, reason: 'no-address' });
    });
  });

  describe('service account key files', () => {
    const api = new TestFcmApi();
    it('are accepted when complete and refused with the missing part named', () => {
      const good = api.serviceAccount();
      expect(checkServiceAccount(JSON.stringify(good)).ok).to.equal(true);
      expect(checkServiceAccount('')).to.deep.equal({ ok: false, problem: 'missing' });
      expect(checkServiceAccount('{not json')).to.deep.equal({ ok: false, problem: 'not-json' });
      expect(checkServiceAccount(JSON.stringify({ ...good, type: 'authorized_user' }))).to.deep.equal({ ok: false, problem: 'not-service-account' });
      expect(checkServiceAccount(JSON.stringify({ ...good, client_email: undefined }))).to.deep.equal({ ok: false, problem: 'no-client-email' });
      expect(checkServiceAccount(JSON.stringify({ ...good, private_key: '' }))).to.deep.equal({ ok: false, problem: 'no-private-key' });
      expect(checkServiceAccount(JSON.stringify({ ...good, private_key: '-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----' }))).to.deep.equal({ ok: false, problem: 'bad-private-key' });
    });
  });

  describe('API endpoints', () => {
    it('are a scheme, host and port, nothing more', () => {
      expect(parseEndpoint('http://127.0.0.1:8085').origin).to.equal('http://127.0.0.1:8085');
      expect(parseEndpoint('https://fcm-proxy.internal/').origin).to.equal('https://fcm-proxy.internal');
      expect(() => parseEndpoint('ftp://x')).to.throw(/http:\/\/ or https:\/\//);
      expect(() => parseEndpoint('http://x/v1')).to.throw(/no path/);
      expect(() => parseEndpoint('http://user:pw@x')).to.throw(/no path, query or user/);
      expect(() => parseEndpoint('not a url')).to.throw(/not a URL/);
    });
  });

  describe('FCM errors', () => {
    it('condemn a token only when FCM says it is unregistered or not a token', () => {
      expect(classifyFcmError({ code: 'messaging/registration-token-not-registered', message: 'Requested entity was not found.' })).to.equal('bad-token');
      expect(classifyFcmError({ code: 'messaging/invalid-registration-token', message: '' })).to.equal('bad-token');
      expect(classifyFcmError({ code: 'messaging/invalid-argument', message: 'The registration token is not a valid FCM registration token' })).to.equal('bad-token');
      expect(classifyFcmError({ code: 'messaging/invalid-argument', message: "Invalid value at 'message.data'" })).to.equal('failed');
      expect(classifyFcmError({ code: 'messaging/server-unavailable', message: '' })).to.equal('retry');
      expect(classifyFcmError({ code: 'messaging/internal-error', message: '' })).to.equal('retry');
      expect(classifyFcmError({ code: 'messaging/message-rate-exceeded', message: '' })).to.equal('retry');
      expect(classifyFcmError({ code: 'messaging/unknown-error', message: 'Raw server response: "x". Status code: 502.' })).to.equal('retry');
      expect(classifyFcmError({ code: 'messaging/mismatched-credential', message: 'SenderId mismatch' })).to.equal('failed');
    });

    it('retry a request that never reached Google, and call one that went out unanswered unknown', () => {
      expect(classifyFcmError({ code: 'app/network-error', message: 'Error while making request: connect ECONNREFUSED 127.0.0.1:9. Error code: ECONNREFUSED' })).to.equal('retry');
      expect(classifyFcmError({ code: 'app/network-error', message: 'Error while making request: socket hang up. Error code: ECONNRESET' })).to.equal('unknown');
      expect(classifyFcmError({ code: 'app/network-timeout', message: 'Error while making request: timeout of 15000ms exceeded.' })).to.equal('unknown');
    });
  });

  describe('the FCM provider, through firebase-admin to a local FCM', function () {
    this.timeout(20_000);
    const api = new TestFcmApi();
    const providers: Array<{ close(): Promise<void> }> = [];
    const make = (serviceAccount: ServiceAccountJson = api.serviceAccount() as unknown as ServiceAccountJson) => {
      const provider = fcmProvider({ serviceAccount, projectId: api.project, endpoint: api.endpoint, label: 'test' });
      providers.push(provider);
      return provider;
    };
    before(() => api.start());
    after(async () => {
      await Promise.all(providers.map((p) => p.close()));
      await api.stop();
    });
    beforeEach(() => api.reset());

    it('signs in with the service account and sends one message per token', async () => {
      const result = await make().send(delivery(['tok-a', 'tok-b']));
      expect(result.status).to.equal('sent');
      expect(api.requests.some((r) => r.host.startsWith('oauth2.googleapis.com') && r.path === '/token' && r.status === 200), 'a token request').to.equal(true);
      expect(api.accepted.map((m) => m.token)).to.have.members(['tok-a', 'tok-b']);
      const message = api.accepted[0]!.message as { notification: unknown; data: Record<string, string>; webpush: { fcmOptions?: unknown; fcm_options?: unknown } };
      expect(message.notification).to.deep.equal({ title: 'Hi Ada', body: 'Your cart misses you' });
      expect(message.data.link).to.equal('https://shop.example.com/cart');
      expect(message.webpush.fcmOptions ?? message.webpush.fcm_options).to.deep.equal({ link: 'https://shop.example.com/cart' });
      if (result.status === 'sent') {
        expect(result.providerMessageId).to.match(/^projects\/journeys-test\/messages\//);
        expect(result.results!.map((r) => [r.to, r.ok])).to.deep.equal([['tok-a', true], ['tok-b', true]]);
      }
    });

    it('sends to the live tokens and hands back the dead ones', async () => {
      api.answer('dead', 'unregistered');
      const result = await make().send(delivery(['live', 'dead']));
      expect(result).to.deep.include({ status: 'sent', badAddresses: ['dead'] });
      expect(api.accepted.map((m) => m.token)).to.deep.equal(['live']);
    });

    it('fails as bad-address when every token is dead, and retries when FCM is unavailable or rate-limits', async () => {
      api.answer('gone', 'unregistered');
      api.answer('garbage', 'invalid');
      const provider = make();
      expect(await provider.send(delivery(['gone', 'garbage']))).to.deep.include({ status: 'failed', reason: 'bad-address', badAddresses: ['gone', 'garbage'] });
      api.answer('busy', 'unavailable');
      const busy = await provider.send(delivery(['busy']));
      expect(busy.status).to.equal('retry');
      api.answer('hot', 'rate-limited');
      expect((await provider.send(delivery(['hot']))).status).to.equal('retry');
      expect(api.accepted).to.have.length(0);
    });

    it('retries when the token endpoint cannot be reached: the account may be fine', async () => {
      const { createServer } = await import('node:net');
      const closed = createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const port = (closed.address() as { port: number }).port;
      await new Promise((resolve) => closed.close(resolve));
      const provider = fcmProvider({ serviceAccount: api.serviceAccount() as unknown as ServiceAccountJson, projectId: api.project, endpoint: `http://127.0.0.1:${port}` });
      providers.push(provider);
      const result = await provider.send(delivery(['tok-y']));
      expect(result.status).to.equal('retry');
      expect(result.status === 'retry' && result.error.message).to.contain('ECONNREFUSED');
    });

    it('ends a send FCM takes and never answers as unknown after the account timeout, and retries a sign-in Google never answers', async () => {
      const provider = fcmProvider({ serviceAccount: api.serviceAccount() as unknown as ServiceAccountJson, projectId: api.project, endpoint: api.endpoint, label: 'slow', timeoutSeconds: 0.3 });
      providers.push(provider);
      api.hangTokenRequests = 1;
      const signIn = await provider.send(delivery(['tok-1']));
      expect(signIn.status).to.equal('retry');
      expect(api.accepted).to.have.length(0);
      // The hung sign-in does not hold the account: the next send signs in and goes out.
      expect((await provider.send(delivery(['tok-1']))).status).to.equal('sent');

      api.answer('tok-2', 'hang');
      const unanswered = await provider.send(delivery(['tok-2']));
      expect(unanswered).to.deep.include({ status: 'unknown' });
      expect(unanswered.status === 'unknown' && unanswered.error.code).to.equal('FCM_TIMEOUT');
    });

    it('sends once when the connection is reset after FCM read the request: unknown, not sent again by the SDK', async () => {
      const provider = make();
      api.answer('tok-r', 'reset');
      const reset = await provider.send(delivery(['tok-r']));
      expect(reset).to.deep.include({ status: 'unknown' });
      expect(reset.status === 'unknown' && reset.error.message).to.contain('ECONNRESET');
      // firebase-admin's own retry would have sent it four more times (two of them within 1.5 s).
      await sleep(1_600);
      expect(api.requests.filter((r) => r.path.endsWith('/messages:send'))).to.have.length(1);
      expect(api.accepted.map((m) => m.token)).to.deep.equal(['tok-r']);
    });

    it('fails, without retrying, when Google refuses the service account', async () => {
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const impostor = { ...api.serviceAccount(), private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() } as unknown as ServiceAccountJson;
      const result = await make(impostor).send(delivery(['tok-x']));
      expect(result.status).to.equal('failed');
      expect(api.requests.find((r) => r.path === '/token')?.status).to.equal(400);
      expect(api.accepted).to.have.length(0);
    });
  });

  describe('removing dead tokens', () => {
    forEachStore((ctx) => {
      it('pulls them from the live profile and deletes its identity claims, leaving others', async () => {
        const profiles = ctx.store.collection<Profile>(COLLECTIONS.profiles);
        const claims = ctx.store.collection<IdentityDoc>(COLLECTIONS.identities);
        await profiles.insertOne(profileDoc('old', { mergedInto: 'p1', identities: {} }));
        await profiles.insertOne(profileDoc('p1', { identities: { userId: ['p1'], deviceToken: ['a', 'b', 'c'] } }));
        for (const [token, owner] of [['a', 'p1'], ['b', 'p1'], ['c', 'someone-else']] as const) {
          await claims.insertOne({ _id: identityKey('deviceToken', token), type: 'deviceToken', value: token, profileId: owner, at });
        }
        // Addressed to the profile merged away: the live one is changed.
        expect(await removePushTokens(ctx.store, 'old', ['a', 'c', 'never-there'], at)).to.equal(2);
        const after = await profiles.findOne({ _id: 'p1' });
        expect(after!.identities.deviceToken).to.deep.equal(['b']);
        expect(after!.version).to.be.greaterThan(1);
        expect(await claims.findOne({ _id: identityKey('deviceToken', 'a') })).to.equal(null);
        expect(await claims.findOne({ _id: identityKey('deviceToken', 'b') })).to.include({ profileId: 'p1' });
        expect(await claims.findOne({ _id: identityKey('deviceToken', 'c') })).to.include({ profileId: 'someone-else' });
        expect(pushTokens(after!)).to.deep.equal({ ok: true, to: ['b'] });
      });
    });
  });
});
