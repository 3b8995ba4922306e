/**
 * Journal patches: an update the plain-update path applied is journaled as the fields it
 * changed, with their new values, rather than as the whole document. A profile carries its
 * latest messageIds and the times of each event it counts, so rewriting it whole for every
 * trait or count was most of what an ingested event wrote and encoded (and what compaction
 * then rewrote again).
 *
 * A patch holds absolute values, never increments, so replaying it is idempotent, and
 * replaying a run of patches over any later version of the document they started from ends
 * at the version the last one made: each field ends with the value of the last patch that
 * touched it, and a field no patch touched kept its value throughout. Compaction relies on
 * this: it may snapshot a document already changed by patches still queued behind it.
 */
import { isPlainObject, type PatchOp } from './plain-update.js';

type Plain = Record<string, unknown>;

/**
 * The version `ops` make of `current`, copying only the objects on their paths; `current` is
 * left untouched. Paths are plain-update's, which never name `__proto__` or an array position.
 */
export function applyPatch<T extends object>(current: T, ops: readonly PatchOp[]): T {
  const root: Plain = { ...(current as Plain) };
  const copied = new Set<Plain>([root]);
  for (const op of ops) {
    const segments = op[0].split('.');
    const last = segments.pop()!;
    let parent: Plain | null = root;
    for (const segment of segments) {
      const inner: unknown = Object.hasOwn(parent, segment) ? parent[segment] : undefined;
      if (isPlainObject(inner)) {
        const own: Plain = copied.has(inner) ? inner : { ...inner };
        copied.add(own);
        parent[segment] = own;
        parent = own;
        continue;
      }
      if (op.length === 1) {
        // Removing below something that is not an object: nothing there to remove.
        parent = null;
        break;
      }
      // Only a version later than the patch can hold something else here, and a later patch sets it again.
      const created: Plain = {};
      copied.add(created);
      parent[segment] = created;
      parent = created;
    }
    if (!parent) continue;
    if (op.length === 1) delete parent[last];
    else parent[last] = op[1];
  }
  return root as T;
}
