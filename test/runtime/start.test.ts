/**
 * The README's start command brings up a real Node-RED with the package and the example
 * flow on the embedded store; events posted over HTTP end up on profiles in the store.
 */
import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { COLLECTIONS, type Delivery, EmbeddedStore, findProfile, type Profile } from '../../lib/index.js';
import { nodeRedPackage } from '../support/node-red.js';
import { nodeRedSuite, type RunningNodeRed } from '../support/runtime.js';

interface Reply {
  accepted: boolean;
  profileId?: string;
  profile?: Profile;
  merged?: Array<{ loser: string; winner: string }>;
  error?: { code: string; message: string };
}

describe(`the start command (real ${nodeRedPackage} process)`, function () {
  this.timeout(120_000);
  const suite = nodeRedSuite('runtime');
  let red: RunningNodeRed | undefined;

  before(async () => {
    red = await suite.start();
  });

  it('loads every node of the package without error, in the journeys category', async () => {
    const nodes = await red!.request('GET', '/nodes', undefined, { accept: 'application/json' });
    const sets = (nodes.json as Array<{ module: string; types: string[]; enabled: boolean; err?: string }>).filter(
      (s) => s.module === 'node-red-contrib-journeys',
    );
    expect(sets.flatMap((s) => s.types).sort()).to.deep.equal(
      ['email-account', 'event-in', 'fcm-account', 'journey-split', 'journey-store', 'profile-merge', 'segment', 'send-email', 'send-push', 'send-sms', 'track', 'twilio-account', 'wait'],
    );
    for (const set of sets) expect(set, JSON.stringify(set)).to.include({ enabled: true }).and.not.have.property('err');
    const editor = await red!.request('GET', '/nodes', undefined, { accept: 'text/html' });
    expect(editor.text).to.match(/category:\s*['"]journeys['"]/);
    expect(editor.text).to.include('data-help-name="event-in"');
    expect(editor.text).to.include('data-help-name="journey-split"');
    expect(editor.text).to.include('data-help-name="segment"');
    expect(editor.text).to.include('data-help-name="send-email"');
    expect(editor.text).to.include('data-help-name="send-sms"');
    expect(editor.text).to.include('data-help-name="send-push"');
    // The editor code the senders share comes as a plugin, loaded before the nodes.
    const plugins = await red!.request('GET', '/plugins', undefined, { accept: 'application/json' });
    expect((plugins.json as Array<{ id: string; enabled: boolean }>).map((p) => p.id)).to.include('node-red-contrib-journeys/journeys-editor');
    const pluginScripts = await red!.request('GET', '/plugins', undefined, { accept: 'text/html' });
    expect(pluginScripts.text).to.include('window.JourneysEditor');
    expect(red!.output()).to.not.match(/\[error\]/);
  });

  it('deployed the example flow', async () => {
    const flows = await red!.request('GET', '/flows');
    const types = (flows.json as Array<{ type: string }>).map((n) => n.type);
    expect(types).to.include.members(['event-in', 'profile-merge', 'track', 'journey-store', 'http in']);
  });

  it('turns posted events into one stitched profile, and refuses bad ones with 400', async () => {
    const post = (body: unknown) => red!.request('POST', '/journeys/events', body);
    const anon = await post({ name: 'page_viewed', identities: { anonymousId: 'anon-rt' }, traits: { visits: 1, interests: 'hiking boots' }, messageId: 'rt-1' });
    expect(anon.status, anon.text).to.equal(200);
    const signUp = await post({
      name: 'signed_up',
      identities: { anonymousId: 'anon-rt', email: 'Runtime@Example.com' },
      traits: { firstName: 'Rita', visits: 1 },
      consent: { email: true },
      messageId: 'rt-2',
    });
    expect(signUp.status, signUp.text).to.equal(200);
    const reply = signUp.json as Reply;
    expect(reply.accepted).to.equal(true);
    expect(reply.profile?.traits).to.deep.include({ firstName: 'Rita', visits: 2 });

    const duplicate = await post({ name: 'signed_up', email: 'runtime@example.com', messageId: 'rt-2' });
    expect(duplicate.status).to.equal(400);
    expect((duplicate.json as Reply).error?.code).to.equal('DUPLICATE');
    const hostile = await post({ name: 'x', identities: { email: { $ne: null } } });
    expect(hostile.status).to.equal(400);
    expect((hostile.json as Reply).error?.code).to.equal('BAD_IDENTITY');
    const notJson = await red!.request('POST', '/journeys/events', undefined, { 'content-type': 'text/plain' });
    expect(notJson.status).to.equal(400);
  });

  it('keeps what it stored across a restart, readable from the store', async () => {
    await red!.stop();
    const store = await EmbeddedStore.open({ directory: join(suite.userDir, 'journeys-store') });
    try {
      const profile = await findProfile(store, { anonymousId: 'anon-rt' });
      expect(profile?.identities).to.deep.equal({ email: ['runtime@example.com'], anonymousId: ['anon-rt'] });
      expect(profile?.aggregates.page_viewed?.count).to.equal(1);
      expect(profile?.aggregates.signed_up?.count).to.equal(1);
      expect(profile?.consent.email?.status).to.equal('granted');
      expect(await store.collection(COLLECTIONS.milestones).count({ name: 'event_captured' })).to.equal(2);
      // Anonymous to known: the sign-up's recommendation email uses what the anonymous visitor looked at.
      const mails: Delivery[] = [];
      for await (const d of store.collection<Delivery>(COLLECTIONS.deliveries).find({ node: 'a13' })) mails.push(d);
      expect(mails.map((d) => [d.to[0], d.status, d.outbox])).to.deep.equal([['runtime@example.com', 'sent', true]]);
      expect(mails[0]!.content).to.deep.include({ subject: 'Rita, picked for you', text: 'Welcome! Because you looked at hiking boots.' });
    } finally {
      await store.close();
    }
    red = await suite.start();
    const again = await red.request('POST', '/journeys/events', { name: 'page_viewed', anonymousId: 'anon-rt', messageId: 'rt-3' });
    expect((again.json as Reply).profile?.aggregates.page_viewed?.count).to.equal(2);
  });

  it('keeps secrets out of the flow file', async () => {
    const flowFile = await readFile(join(suite.userDir, 'flows.json'), 'utf8');
    expect(flowFile).to.not.match(/mongodb:\/\//);
  });
});
