/** InFlight: counting a journey msg's copies until the last one is done. */
import { expect } from 'chai';
import { InFlight } from '../../lib/index.js';

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('in-flight journey msgs', () => {
  let inFlight: InFlight<string>;
  let settled: string[];
  beforeEach(() => {
    inFlight = new InFlight<string>();
    settled = [];
  });
  const follow = (id: string, owner = 'store') => inFlight.follow(id, owner, () => settled.push(id));

  it('settles a msg that reached no node, on the next turn', async () => {
    follow('i1');
    expect(settled).to.deep.equal([]);
    await turn();
    expect(settled).to.deep.equal(['i1']);
    expect(inFlight.size).to.equal(0);
  });

  it('does not settle between hops when a node finishes right after sending on', async () => {
    follow('i1');
    inFlight.routed('i1', 'a', 'm1');
    await turn();
    inFlight.received('i1', 'a', 'm1');
    inFlight.routed('i1', 'b', 'm1'); // a sends on...
    inFlight.finished('i1', 'a', 'm1'); // ...then is done
    await turn();
    expect(settled).to.deep.equal([]);
    inFlight.received('i1', 'b', 'm1');
    inFlight.finished('i1', 'b', 'm1');
    await turn();
    expect(settled).to.deep.equal(['i1']);
  });

  it('does not settle while a send waits for a write, and counts the copy routed right after it is let go', async () => {
    follow('i1');
    inFlight.routed('i1', 'a', 'm1');
    inFlight.received('i1', 'a', 'm1');
    const release = inFlight.hold('i1'); // a sends; routing waits for its resume point
    inFlight.finished('i1', 'a', 'm1'); // ...and a is done meanwhile
    await turn();
    expect(settled).to.deep.equal([]);
    release();
    inFlight.routed('i1', 'b', 'm1'); // routed in the same turn as the write resolved
    await turn();
    expect(settled).to.deep.equal([]);
    inFlight.received('i1', 'b', 'm1');
    inFlight.finished('i1', 'b', 'm1');
    await turn();
    expect(settled).to.deep.equal(['i1']);
  });

  it('waits for every branch of a fan-out, and for a node that finishes before it sends', async () => {
    follow('i1');
    for (const node of ['a', 'b']) inFlight.routed('i1', node, 'm1');
    for (const node of ['a', 'b']) inFlight.received('i1', node, 'm1');
    inFlight.finished('i1', 'a', 'm1');
    inFlight.finished('i1', 'b', 'm1'); // b done first, sends in the same turn
    inFlight.routed('i1', 'c', 'm1');
    await turn();
    expect(settled).to.deep.equal([]);
    inFlight.received('i1', 'c', 'm1');
    inFlight.finished('i1', 'c', 'm1');
    await turn();
    expect(settled).to.deep.equal(['i1']);
  });

  it('counts copies handed over without routing (link, catch), and ignores completions it never saw begin', async () => {
    follow('i1');
    inFlight.routed('i1', 'link-out', 'm1');
    inFlight.received('i1', 'link-out', 'm1');
    inFlight.received('i1', 'link-in', 'm1'); // handed over directly
    inFlight.finished('i1', 'link-out', 'm1');
    inFlight.finished('i1', 'creator', 'm0'); // the node that created the msg: never counted
    await turn();
    expect(settled).to.deep.equal([]);
    inFlight.finished('i1', 'link-in', 'm1');
    await turn();
    expect(settled).to.deep.equal(['i1']);
  });

  it('ignores instances it does not follow, and forgets an owner without settling', async () => {
    inFlight.routed('other', 'a', 'm1');
    inFlight.finished('other', 'a', 'm1');
    follow('i1', 'store-a');
    follow('i2', 'store-b');
    inFlight.routed('i2', 'a', 'm2');
    inFlight.forgetOwner('store-a');
    await turn();
    expect(settled).to.deep.equal([]);
    expect(inFlight.isFollowing('i2')).to.equal(true);
  });

  it('settles once, however many copies finish', async () => {
    follow('i1');
    inFlight.routed('i1', 'a', 'm1');
    inFlight.received('i1', 'a', 'm1');
    inFlight.finished('i1', 'a', 'm1');
    inFlight.finished('i1', 'a', 'm1');
    await turn();
    await turn();
    expect(settled).to.deep.equal(['i1']);
  });
});
