/**
 * The channel machinery in lib/ without Node-RED: templates and what they refuse, quiet
 * hours, the frequency cap under concurrency, the outbox's exactly-once attempts and its
 * recovery sweep, signed links, SMTP error classes (on both stores where a store is used).
 */
import { expect } from 'chai';
import {
  backoffMs,
  channelTemplates,
  classifySmtpError,
  COLLECTIONS,
  creditDeliveries,
  countDelivery,
  deliveryCounters,
  recordClick,
  recordOpen,
  CompiledTemplate,
  DEFAULT_RETRY,
  deliveryKey,
  retryPolicyOf,
  retrySettingsProblem,
  withDeadline,
  MAX_RENDERED_CHARS,
  Outbox,
  quietHoursProblem,
  quietUntil,
  releaseSlot,
  reserveSlot,
  signingKey,
  signLink,
  smtpProvider,
  SMTP_THREAD_NAME,
  smtpThreadProvider,
  TemplateError,
  verifyLink,
  type Delivery,
  type Provider,
  type ProviderResult,
} from '../../lib/index.js';
import { TestSmtpServer } from '../support/smtp.js';
import { threadsNamed } from '../support/threads.js';
import { forEachStore, intercepted } from '../support/stores.js';
import { eventually, sleep } from '../support/timing.js';

const scope = { profile: { traits: { firstName: 'Ada', tags: ['a', 'b'] } }, event: { name: 'signed_up' }, journey: { name: 'welcome' }, msg: {} };

function templateError(source: string, kind: 'html' | 'text' = 'text'): TemplateError {
  try {
    new CompiledTemplate('body', source, kind).render(scope);
  } catch (err) {
    if (err instanceof TemplateError) return err;
    throw err;
  }
  throw new Error(`no error for ${source}`);
}

describe('channel templates', () => {
  it('render the profile, event and journey, escaping HTML only in HTML fields', () => {
    const t = channelTemplates('email', {
      subject: '{{ profile.traits.firstName }} & co',
      html: '<b>{{ profile.traits.firstName }} & {{ "<i>" }}</b>{% for t in profile.traits.tags %}[{{ t }}]{% endfor %}',
      text: '{{ event.name }} in {{ journey.name }}',
    });
    expect(t.render({ ...scope, profile: { traits: { firstName: 'A<b>', tags: ['x'] } } })).to.deep.equal({
      subject: 'A<b> & co',
      html: '<b>A&lt;b&gt; & &lt;i&gt;</b>[x]',
      text: 'signed_up in welcome',
    });
  });

  for (const [source, what] of [
    ['{{ "".constructor.constructor("return process")().pid }}', '"constructor" cannot be looked up'],
    ['{{ profile["__proto__"] }}', '"__proto__" cannot be looked up'],
    ['{{ constructor }}', '"constructor" cannot be used'],
    ['{% set k = "constructor" %}{{ profile[k] }}', 'only be looked up by a name written in the template'],
    ['{{ profile.traits.prototype }}', '"prototype" cannot be looked up'],
  ] as const) {
    it(`refuse ${source} when compiled`, () => {
      expect(() => new CompiledTemplate('subject', source, 'text'))
        .to.throw(TemplateError)
        .with.property('message')
        .that.contains(what);
    });
  }

  it('say the field, the line and the cause of a failure', () => {
    const err = templateError('one\ntwo\n{{ profile.missing() }}');
    expect(err.field).to.equal('body');
    expect(err.line).to.equal(3);
    expect(err.message).to.match(/^body, line 3: Unable to call `profile\["missing"\]`/);
    expect(() => new CompiledTemplate('html', '{% if x %}open', 'html')).to.throw(TemplateError, /^html: .*endif/);
  });

  it('refuse to render more than the size limit, and a range() too large to build', () => {
    const err = templateError('{% for i in range(0, 2000) %}{% for j in range(0, 60) %}0123456789{% endfor %}{% endfor %}');
    expect(err.message).to.contain(`more than the ${MAX_RENDERED_CHARS.toLocaleString('en-US')} allowed`);
    // nunjucks' own range(0, 1e9) would build a billion-item array before anything could stop it.
    const started = Date.now();
    expect(templateError('{% for i in range(0, 1000000000) %}x{% endfor %}').message).to.match(/range\(\) of 1,000,000,000 items: at most 10,000/);
    expect(Date.now() - started).to.be.lessThan(1_000);
    expect(new CompiledTemplate('t', '{% for i in range(3) %}{{ i }}{% endfor %}|{% for i in range(10, 0, -4) %}{{ i }},{% endfor %}', 'text').render(scope)).to.equal('012|10,6,2,');
  });
});

describe('quiet hours', () => {
  const at = (iso: string) => new Date(iso);
  it('defer to the end of an overnight window in the profile zone, and not outside it', () => {
    const quiet = { start: '21:00', end: '08:00' };
    // 22:30 in Berlin (UTC+1 in January) is quiet until 08:00 Berlin = 07:00 UTC the next day.
    expect(quietUntil(at('2026-01-10T21:30:00Z'), quiet, 'Europe/Berlin')?.toISOString()).to.equal('2026-01-11T07:00:00.000Z');
    // 06:00 Berlin: still quiet, until 08:00 the same day.
    expect(quietUntil(at('2026-01-11T05:00:00Z'), quiet, 'Europe/Berlin')?.toISOString()).to.equal('2026-01-11T07:00:00.000Z');
    expect(quietUntil(at('2026-01-11T12:00:00Z'), quiet, 'Europe/Berlin')).to.equal(null);
    // The same instant is daytime in New York.
    expect(quietUntil(at('2026-01-10T21:30:00Z'), quiet, 'America/New_York')).to.equal(null);
  });
  it('handle a window within one day, and refuse bad settings', () => {
    expect(quietUntil(at('2026-06-01T12:30:00Z'), { start: '12:00', end: '14:00' }, 'UTC')?.toISOString()).to.equal('2026-06-01T14:00:00.000Z');
    expect(quietUntil(at('2026-06-01T14:00:00Z'), { start: '12:00', end: '14:00' }, 'UTC')).to.equal(null);
    expect(quietHoursProblem({ start: '25:00', end: '08:00' })).to.contain('HH:MM');
    expect(quietHoursProblem({ start: '08:00', end: '08:00' })).to.contain('same time');
  });
});

describe('retry backoff', () => {
  it('doubles per attempt within ±20 %, up to the cap, and honours a longer Retry-After', () => {
    const fixed = () => 0.5;
    expect([1, 2, 3, 10].map((a) => backoffMs(DEFAULT_RETRY, a, undefined, fixed))).to.deep.equal([1_000, 2_000, 4_000, 60_000]);
    expect(backoffMs(DEFAULT_RETRY, 1, 30_000, fixed)).to.equal(30_000);
    expect(backoffMs(DEFAULT_RETRY, 1, undefined, () => 0)).to.equal(800);
    expect(backoffMs(DEFAULT_RETRY, 1, undefined, () => 1)).to.equal(1_200);
  });
});

describe('account retry settings', () => {
  it('double from the first retry up to a minute, keep the defaults when unset, and refuse what makes no sense', () => {
    expect(retryPolicyOf({})).to.deep.equal(DEFAULT_RETRY);
    expect(retryPolicyOf({ attempts: 3, firstRetrySeconds: 0.2 })).to.deep.equal({ attempts: 3, baseMs: 200, maxMs: 60_000 });
    expect(retryPolicyOf({ firstRetrySeconds: 120 })).to.include({ baseMs: 120_000, maxMs: 120_000 });
    expect(retrySettingsProblem({ attempts: 1, firstRetrySeconds: 0.5, timeoutSeconds: 10 })).to.equal(null);
    expect(retrySettingsProblem({ attempts: 0 })).to.contain('attempts');
    expect(retrySettingsProblem({ attempts: 2.5 })).to.contain('attempts');
    expect(retrySettingsProblem({ firstRetrySeconds: 0 })).to.contain('first retry');
    expect(retrySettingsProblem({ timeoutSeconds: Number.NaN })).to.contain('timeout');
    expect(retrySettingsProblem({ timeoutSeconds: 601 })).to.contain('timeout');
  });

  it('bound a call that takes no timeout of its own, and let one that answers in time through', async () => {
    const never = new Promise<string>(() => undefined);
    expect(await withDeadline(never, 20, () => 'late')).to.equal('late');
    expect(await withDeadline(Promise.resolve('answered'), 1_000, () => 'late')).to.equal('answered');
    // A failure after the deadline is nobody's to handle: it must not surface as an unhandled rejection.
    const failsLate = new Promise<string>((_, reject) => setTimeout(() => reject(new Error('too late')), 40));
    expect(await withDeadline(failsLate, 10, () => 'late')).to.equal('late');
    await new Promise((resolve) => setTimeout(resolve, 60));
  });
});

describe('SMTP failures', () => {
  const kind = (err: object) => classifySmtpError(Object.assign(new Error('x'), err));
  it('retry what the server did not take, fail what it refused, and never guess about a lost connection', () => {
    expect(kind({ responseCode: 451 }).status).to.equal('retry');
    expect(kind({ responseCode: 554 })).to.include({ status: 'failed' });
    expect(kind({ responseCode: 550, command: 'RCPT TO' })).to.include({ status: 'failed', reason: 'bounced' });
    expect(kind({ responseCode: 535, code: 'EAUTH' })).to.deep.include({ status: 'failed' });
    expect(kind({ code: 'ESOCKET', message: 'connect ECONNREFUSED 127.0.0.1:25' }).status).to.equal('retry');
    expect(kind({ code: 'ETIMEDOUT', message: 'Connection timeout', timeoutType: 'CONNECT_TIMEOUT' }).status).to.equal('retry');
    expect(kind({ code: 'ETIMEDOUT', message: 'TLS handshake timed out', timeoutType: 'UPGRADE_TIMEOUT' }).status).to.equal('retry');
    expect(kind({ code: 'ETIMEDOUT', message: 'Timeout', timeoutType: 'SOCKET_TIMEOUT' }).status).to.equal('unknown');
    expect(kind({ code: 'ECONNECTION', message: 'Connection closed unexpectedly' }).status).to.equal('unknown');
  });

  describe('from a server that never greets', () => {
    const server = new TestSmtpServer();
    before(() => server.start());
    after(() => server.stop());

    // The socket's idle timer and the greeting's used to be equal, and which fired first was luck.
    it('are retried every time: the greeting times out before the idle socket does', async () => {
      for (let i = 0; i < 12; i += 1) {
        server.stallGreetings = 1;
        const provider = smtpProvider({ host: '127.0.0.1', port: server.port, secure: false, from: 'news@example.com', timeoutSeconds: 0.1 });
        try {
          const result = await provider.send(queued(`d${i}`));
          expect(result, `send ${i}`).to.deep.include({ status: 'retry' });
          expect(result.status === 'retry' && result.error.code).to.equal('SMTP_UNAVAILABLE');
        } finally {
          provider.close();
        }
      }
      expect(server.received).to.have.length(0);
    });
  });
});

describe('an SMTP account', () => {
  const server = new TestSmtpServer();
  before(() => server.start());
  after(() => server.stop());
  const account = (connections?: number) => ({ host: '127.0.0.1', port: server.port, secure: false, from: 'news@example.com', ...(connections !== undefined ? { connections } : {}) });

  for (const [connections, expected] of [[undefined, 5], [2, 2], [12, 12]] as const) {
    it(`keeps ${expected} connections to the server when ${connections ?? 'left unset'}, and works on as many sends at once`, async () => {
      server.peakConnections = 0;
      const provider = smtpProvider(account(connections));
      try {
        expect(provider.concurrency).to.equal(expected);
        const results = await Promise.all(Array.from({ length: 24 }, (_, i) => provider.send(queued(`c${expected}-${i}`))));
        expect(results.every((r) => r.status === 'sent')).to.equal(true);
        expect(server.peakConnections).to.equal(expected);
      } finally {
        provider.close();
      }
    });
  }

  it('refuses a number of connections that is not whole, or outside 1 to 50', () => {
    for (const bad of [0, 51, 2.5, Number.NaN]) expect(() => smtpProvider(account(bad)), String(bad)).to.throw(RangeError, /connections must be a whole number from 1 to 50/);
  });
});

describe('an SMTP account on its own thread', () => {
  const server = new TestSmtpServer();
  before(() => server.start());
  after(() => server.stop());
  beforeEach(() => {
    server.received.length = 0;
    server.unknownMailboxes.clear();
  });
  const account = { host: '127.0.0.1', port: 0, secure: false, from: 'Shop <news@example.com>', connections: 3, timeoutSeconds: 2 };
  const on = () => ({ ...account, port: server.port });
  const smtpThreads = () => threadsNamed(SMTP_THREAD_NAME).length;

  it('sends the message the provider sends on the main thread, with the same outcomes and settings', async () => {
    const here = smtpProvider(on());
    const there = smtpThreadProvider(on());
    try {
      expect({ ...there, send: null, close: null }).to.deep.equal({ ...here, send: null, close: null });
      const withLink = (id: string) => queued(id, new Date(), { content: { subject: 'Hi', html: '<p>Hi</p>', text: 'Hi', listUnsubscribe: 'https://example.com/u' } });
      const [a, b] = [await here.send(withLink('same-a')), await there.send(withLink('same-b'))];
      expect(a.status).to.equal('sent');
      expect(b.status).to.equal('sent');
      const headers = (n: number) => {
        const h = server.received[n]!.mail.headers;
        return { subject: h.get('subject'), from: server.received[n]!.from, list: h.get('list-unsubscribe'), post: h.get('list-unsubscribe-post') };
      };
      expect(headers(1)).to.deep.equal(headers(0));
      expect(server.received[1]!.mail.headers.get('x-journeys-delivery')).to.equal('same-b');
      expect(server.received[1]!.mail.messageId).to.equal((b as { providerMessageId: string }).providerMessageId);

      // A refused recipient, across the thread, is the same bounce.
      server.unknownMailboxes.add('gone@example.com');
      const bounced = await there.send(queued('bounce', new Date(), { to: ['gone@example.com'] }));
      expect(bounced).to.deep.include({ status: 'failed', reason: 'bounced' });
    } finally {
      here.close();
      there.close();
    }
  });

  it('answers retry when the server cannot be reached', async () => {
    const there = smtpThreadProvider({ ...account, port: 1 });
    try {
      const result = await there.send(queued('unreachable'));
      expect(result).to.deep.include({ status: 'retry' });
      expect(result.status === 'retry' && result.error.code).to.equal('SMTP_UNAVAILABLE');
    } finally {
      there.close();
    }
  });

  it('starts its thread at the first send and ends it at close, answering a send still in hand as unknown', async () => {
    // The providers closed by the tests before end their threads too.
    await eventually(() => (smtpThreads() === 0 ? true : undefined), 5000, 'earlier threads to end');
    const there = smtpThreadProvider(on());
    expect(smtpThreads(), 'no thread before a send').to.equal(0);
    expect((await there.send(queued('first'))).status).to.equal('sent');
    expect(smtpThreads()).to.equal(1);
    // Taken whole by the server, never answered: the close finds it in hand.
    server.stallNext = 1;
    const inHand = there.send(queued('in-hand'));
    await eventually(() => (server.received.some((r) => r.raw.includes('in-hand')) ? true : undefined), 5000, 'the message at the server');
    there.close();
    const result = await inHand;
    expect(result.status, 'it may have arrived: never sent again').to.equal('unknown');
    await eventually(() => (smtpThreads() === 0 ? true : undefined), 5000, 'the thread to end');
  });
});

/** A provider answering from a script, counting its calls. */
function scripted(answers: ProviderResult[], delayMs = 0): Provider & { calls: number } {
  const provider = {
    name: 'scripted',
    outbox: false,
    calls: 0,
    async send(): Promise<ProviderResult> {
      provider.calls += 1;
      if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
      return answers.shift() ?? { status: 'sent', providerMessageId: `id-${provider.calls}` };
    },
  };
  return provider;
}

function queued(id: string, at = new Date(), extra: Partial<Delivery> = {}): Delivery {
  return {
    _id: id,
    channel: 'email',
    node: 'n1',
    journey: 'welcome',
    instanceId: 'i1',
    profileId: 'p1',
    variant: null,
    to: ['p1@example.com'],
    content: { subject: 's', html: '', text: 't' },
    status: 'queued',
    outbox: false,
    provider: 'scripted',
    attempts: 0,
    dueAt: at,
    opens: 0,
    clicks: 0,
    createdAt: at,
    updatedAt: at,
    ...extra,
  };
}

const fast = { attempts: 3, baseMs: 10, maxMs: 50 };

forEachStore((ctx) => {
  describe('the outbox', () => {
    it('keys a delivery by instance, node, channel and pass, and finds the first when the key comes again', async () => {
      const outbox = new Outbox(ctx.store);
      const id = deliveryKey('email', 'n1', 'i1', 'msg-1');
      expect(id).to.equal(deliveryKey('email', 'n1', 'i1', 'msg-2'));
      expect(deliveryKey('email', 'n1', null, 'msg-1')).to.not.equal(deliveryKey('email', 'n1', null, 'msg-2'));
      // A loop's later passes are messages of their own; the first pass keeps the key deliveries always had.
      expect(deliveryKey('email', 'n1', 'i1', 'msg-1', 0)).to.equal('email:n1:i1');
      const passes = [0, 1, 2].map((pass) => deliveryKey('email', 'n1', 'i1', 'msg-1', pass));
      expect(new Set(passes).size).to.equal(3);
      expect(deliveryKey('email', 'n1', 'i1', 'msg-9', 2)).to.equal(passes[2]);
      expect((await outbox.create(queued(id))).created).to.equal(true);
      const again = await outbox.create(queued(id, new Date(), { content: { subject: 'other' } }));
      expect(again.created).to.equal(false);
      expect(again.delivery.content.subject).to.equal('s');
    });

    it('sends once when two loops race for the same delivery', async () => {
      const outbox = new Outbox(ctx.store);
      await outbox.create(queued('race'));
      const provider = scripted([], 50);
      const [a, b] = await Promise.all([outbox.deliver('race', provider, { retry: fast }), outbox.deliver('race', provider, { retry: fast })]);
      expect(provider.calls).to.equal(1);
      // The loser sends nothing and sees the winner's attempt, in flight or done.
      expect([a?.status, b?.status]).to.include('sent');
      expect([a?.status, b?.status].filter((s) => s !== 'sent' && s !== 'sending')).to.deep.equal([]);
      expect(await outbox.get('race')).to.include({ status: 'sent', attempts: 1 });
    });

    it('sends each of many deliveries once when three loops race for each, and counts each once', async () => {
      const outbox = new Outbox(ctx.store);
      const ids = Array.from({ length: 12 }, (_, i) => `many-${i}`);
      for (const [i, id] of ids.entries()) await outbox.create(queued(id, new Date(), { instanceId: `i-${i}` }));
      const provider = scripted([], 20);
      // Claimed in the same turn: on MongoDB the claims of one round share a bulk write that
      // only some of them win, so each loop learns from its own mark whether it holds its delivery.
      const results = await Promise.all(ids.flatMap((id) => [1, 2, 3].map(() => outbox.deliver(id, provider, { retry: fast }))));
      expect(provider.calls).to.equal(12);
      expect(results.filter((d) => d?.status === 'sent' && d.providerMessageId !== undefined)).to.have.length.of.at.least(12);
      for (const id of ids) expect(await outbox.get(id)).to.include({ status: 'sent', attempts: 1 });
      const [counter] = await deliveryCounters(ctx.store, 'welcome');
      expect(counter).to.deep.include({ sent: 12 });
    });

    // nodemailer's pool queues sends beyond its connections: a delivery queued there is not
    // handed over yet, so a crash must find it `queued` (sent by the sweep), not `sending`
    // (which ends unknown-outcome).
    it('claims no more deliveries than the provider works on at once; the rest stay queued until a slot frees', async () => {
      const outbox = new Outbox(ctx.store);
      const gate: Array<() => void> = [];
      let calls = 0;
      const provider: Provider = {
        name: 'pooled',
        outbox: false,
        concurrency: 2,
        send: async () => {
          calls += 1;
          await new Promise<void>((resolve) => gate.push(resolve));
          return { status: 'sent', providerMessageId: `pooled-${calls}` };
        },
      };
      const ids = ['s1', 's2', 's3', 's4', 's5'];
      for (const id of ids) await outbox.create(queued(id));
      const sending = Promise.all(ids.map((id) => outbox.deliver(id, provider, { retry: fast })));
      const statuses = async () => (await Promise.all(ids.map((id) => outbox.get(id)))).map((d) => d?.status);
      await eventually(() => (gate.length === 2 ? true : undefined), 2_000, 'two sends in the provider');
      await sleep(50);
      expect((await statuses()).sort()).to.deep.equal(['queued', 'queued', 'queued', 'sending', 'sending']);
      gate.shift()!();
      await eventually(() => (gate.length === 2 && calls === 3 ? true : undefined), 2_000, 'the third send to take the freed slot');
      // The slot frees when the provider answers, so the first may still be recording its outcome: the two not handed over are what must stay queued.
      expect((await statuses()).filter((s) => s === 'queued')).to.have.length(2);
      while ((await statuses()).some((s) => s !== 'sent')) {
        gate.shift()?.();
        await sleep(10);
      }
      expect((await sending).map((d) => d?.status)).to.deep.equal(['sent', 'sent', 'sent', 'sent', 'sent']);
      expect(calls).to.equal(5);
    });

    // The slot is the connection: recording the outcome (a store round trip) must not keep the next delivery from it.
    it('frees a slot when the provider answers, before the outcome is recorded', async () => {
      let holdOutcomes = true;
      const held: Array<() => void> = [];
      const slowOutcomes = intercepted(ctx.store, COLLECTIONS.deliveries, 'updateById', (original) => async (id, update, where) => {
        if (holdOutcomes && update.$set?.status === 'sent') await new Promise<void>((resolve) => held.push(resolve));
        return original(id, update, where);
      });
      const outbox = new Outbox(slowOutcomes);
      const provider = Object.assign(scripted([]), { concurrency: 1 });
      for (const id of ['f1', 'f2']) await outbox.create(queued(id));
      const sending = Promise.all(['f1', 'f2'].map((id) => outbox.deliver(id, provider, { retry: fast })));
      await eventually(() => (held.length === 2 ? true : undefined), 2_000, 'both sent while the first outcome is still being recorded');
      expect(provider.calls).to.equal(2);
      holdOutcomes = false;
      for (const release of held) release();
      expect((await sending).map((d) => d?.status)).to.deep.equal(['sent', 'sent']);
    });

    it('retries transient failures with backoff, then fails once the attempts are spent; fails permanent ones at once', async () => {
      const outbox = new Outbox(ctx.store);
      await outbox.create(queued('t1'));
      const flaky = scripted([{ status: 'retry', error: { code: 'X', message: 'busy' } }]);
      expect(await outbox.deliver('t1', flaky, { retry: fast })).to.include({ status: 'sent', attempts: 2 });

      await outbox.create(queued('t2'));
      const down = scripted(Array.from({ length: 5 }, () => ({ status: 'retry' as const, error: { code: 'X', message: 'down' } })));
      const spent = await outbox.deliver('t2', down, { retry: fast });
      expect(spent).to.include({ status: 'failed', reason: 'provider-unavailable', attempts: 3, detail: 'down' });
      expect(down.calls).to.equal(3);

      await outbox.create(queued('t3'));
      const refuses = scripted([{ status: 'failed', error: { code: 'BAD', message: 'no such number' }, reason: 'bad-address' }]);
      expect(await outbox.deliver('t3', refuses, { retry: fast })).to.include({ status: 'failed', reason: 'bad-address', attempts: 1 });
    });

    it("follows the provider's own retry policy, and ends a send whose Retry-After is longer than a send may wait", async () => {
      const outbox = new Outbox(ctx.store);
      await outbox.create(queued('own-policy'));
      const down = scripted(Array.from({ length: 5 }, () => ({ status: 'retry' as const, error: { code: 'X', message: 'down' } })));
      const withPolicy = Object.assign(down, { retry: { attempts: 2, baseMs: 10, maxMs: 50 } });
      expect(await outbox.deliver('own-policy', withPolicy)).to.include({ status: 'failed', reason: 'provider-unavailable', attempts: 2 });
      expect(down.calls).to.equal(2);

      await outbox.create(queued('too-long'));
      const busy = scripted([{ status: 'retry', error: { code: 'HTTP_429', message: 'slow down' }, retryAfterMs: 3_600_000 }]);
      const ended = await outbox.deliver('too-long', busy, { retry: fast });
      expect(ended).to.include({ status: 'failed', reason: 'provider-unavailable', attempts: 1 });
      expect(ended?.detail).to.contain('asked to wait 3600 s');
      expect(busy.calls).to.equal(1);
    });

    it('leaves a delivery queued when its loop is stopped between attempts, for the sweep to finish', async () => {
      const outbox = new Outbox(ctx.store);
      await outbox.create(queued('stop'));
      const stop = new AbortController();
      const provider = scripted([{ status: 'retry', error: { code: 'X', message: 'busy' }, retryAfterMs: 400 }]);
      setTimeout(() => stop.abort(), 50);
      expect(await outbox.deliver('stop', provider, { retry: fast, signal: stop.signal })).to.include({ status: 'queued', attempts: 1 });
    });

    it('sweeps: sends what a dead process left queued, and settles what it left mid-send as unknown without sending it', async () => {
      const outbox = new Outbox(ctx.store);
      const longAgo = new Date(Date.now() - 60_000);
      await outbox.create(queued('left-queued', longAgo, { attempts: 1 }));
      await outbox.create(queued('left-sending', longAgo, { status: 'sending', attempts: 1, leaseUntil: new Date(Date.now() - 1_000) }));
      await outbox.create(queued('still-sending', longAgo, { status: 'sending', attempts: 1, leaseUntil: new Date(Date.now() + 60_000) }));
      await outbox.create(queued('other-node', longAgo, { node: 'n2' }));
      const provider = scripted([]);
      expect(await outbox.recover('n1', provider, { retry: fast })).to.deep.equal({ resent: 1, unknown: 1 });
      expect(provider.calls).to.equal(1);
      expect(await outbox.get('left-queued')).to.include({ status: 'sent', attempts: 2 });
      expect(await outbox.get('left-sending')).to.include({ status: 'failed', reason: 'unknown-outcome' });
      expect(await outbox.get('still-sending')).to.include({ status: 'sending' });
      expect(await outbox.get('other-node')).to.include({ status: 'queued' });
      expect(await outbox.recover('n1', provider, { retry: fast })).to.deep.equal({ resent: 0, unknown: 0 });
    });
  });

  describe('delivery counters', () => {
    it('count each delivery once as it ends, its first open and click, and a credited conversion once', async () => {
      const outbox = new Outbox(ctx.store);
      await outbox.create(queued('c1'));
      await outbox.create(queued('c2', new Date(), { instanceId: 'i2' }));
      await outbox.create(queued('c3', new Date(), { instanceId: 'i3', status: 'skipped', reason: 'no-consent' }));
      await outbox.create(queued('c4', new Date(), { journey: null }));
      const provider = scripted([{ status: 'retry', error: { code: 'X', message: 'busy' } }, { status: 'failed', error: { code: 'BAD', message: 'no' } }]);
      await outbox.deliver('c1', provider, { retry: fast }); // retried, then refused: failed once
      await outbox.deliver('c2', provider, { retry: fast });
      await outbox.deliver('c4', provider, { retry: fast }); // outside a journey: not counted
      await outbox.recover('n1', provider, { retry: fast }); // nothing left: counts nothing more
      const now = new Date();
      await recordOpen(ctx.store, 'c2', now);
      await recordOpen(ctx.store, 'c2', now);
      await recordClick(ctx.store, 'c2', 'https://example.com/', now);
      expect(await creditDeliveries(ctx.store, ['i2'], 86_400_000, now)).to.equal(1);
      expect(await creditDeliveries(ctx.store, ['i2'], 86_400_000, now)).to.equal(0);
      const [counter, ...others] = await deliveryCounters(ctx.store, 'welcome');
      expect(others).to.deep.equal([]);
      expect(counter).to.deep.include({ journey: 'welcome', channel: 'email', node: 'n1', sent: 1, failed: 1, skipped: 1, opened: 1, clicked: 1, conversions: 1 });
      expect(counter!.reasons).to.deep.equal({ 'provider-rejected': 1, 'no-consent': 1 });
    });
  });

  describe('delivery counters made together', () => {
    // Summed into one write per counter (the bench counts the commands): none may be lost or land on another counter.
    it('are each counted on their own counter, none lost, increments and decrements alike', async () => {
      const count = (node: string, inc: Record<string, number>) => countDelivery(ctx.store, { journey: 'sums', channel: 'email', node }, inc);
      await Promise.all([
        ...Array.from({ length: 40 }, (_, i) => count(i % 2 === 0 ? 'even' : 'odd', { sent: 1, ...(i % 4 === 0 ? { 'reasons.bounced': 1 } : {}) })),
        // A receipt moves a count from one figure to another.
        ...Array.from({ length: 10 }, () => count('receipts', { delivered: 1, undelivered: -1 })),
      ]);
      const byNode = new Map((await deliveryCounters(ctx.store, 'sums')).map((c) => [c.node, c]));
      expect(byNode.get('even')).to.deep.include({ journey: 'sums', channel: 'email', sent: 20, reasons: { bounced: 10 } });
      expect(byNode.get('odd')).to.deep.include({ sent: 20 });
      expect(byNode.get('odd')).to.not.have.property('reasons');
      expect(byNode.get('receipts')).to.deep.include({ delivered: 10, undelivered: -10 });
    });
  });

  describe('the frequency cap', () => {
    const cap = { max: 3, windowMs: 7 * 86_400_000 };
    it('gives out exactly max slots to concurrent sends, says when the next frees up, and takes back a released one', async () => {
      const now = new Date('2026-03-01T12:00:00Z');
      const results = await Promise.all(Array.from({ length: 10 }, () => reserveSlot(ctx.store, 'email', 'p1', cap, now)));
      expect(results.filter((r) => r.ok)).to.have.length(3);
      const refused = results.find((r) => !r.ok);
      expect(refused).to.deep.include({ ok: false, sent: 3 });
      expect((refused as { nextFreeAt: Date }).nextFreeAt.toISOString()).to.equal('2026-03-08T12:00:00.000Z');
      await releaseSlot(ctx.store, 'email', 'p1', now);
      expect((await reserveSlot(ctx.store, 'email', 'p1', cap, now)).ok).to.equal(true);
      // Other channels and people have their own slots; the window slides.
      expect((await reserveSlot(ctx.store, 'sms', 'p1', cap, now)).ok).to.equal(true);
      expect((await reserveSlot(ctx.store, 'email', 'p2', cap, now)).ok).to.equal(true);
      expect((await reserveSlot(ctx.store, 'email', 'p1', cap, new Date('2026-03-08T12:00:01Z'))).ok).to.equal(true);
    });
  });

  describe('signed links', () => {
    it('verify with the key of the database they were signed for, and not once altered', async () => {
      const key = await signingKey(ctx.store);
      expect((await signingKey(ctx.store)).equals(key)).to.equal(true);
      expect(key.length).to.equal(32);
      const token = signLink(key, { d: 'delivery-1', a: 'click', s: 'store1', u: 'https://example.com/' });
      expect(verifyLink(key, token)).to.deep.equal({ d: 'delivery-1', a: 'click', s: 'store1', u: 'https://example.com/' });
      const [body, mac] = token.split('.') as [string, string];
      const altered = Buffer.from(JSON.stringify({ d: 'delivery-2', a: 'click', s: 'store1', u: 'https://example.com/' })).toString('base64url');
      expect(verifyLink(key, `${altered}.${mac}`)).to.equal(null);
      expect(verifyLink(Buffer.alloc(32, 7), token)).to.equal(null);
      expect(verifyLink(key, `${body}.${mac}x`)).to.equal(null);
      expect(verifyLink(key, 'nonsense')).to.equal(null);
      const stored = await ctx.store.collection(COLLECTIONS.settings).findOne({ _id: 'link-signing-key' });
      expect(stored).to.have.property('key').that.is.a('string');
    });
  });
});
