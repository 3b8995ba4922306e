/**
 * Split assignment: which branch of a weighted A/B/n split a profile takes, and whether it
 * is held out as a control group. Pure functions: the same profile, journey and split node
 * always hash to the same number, so a person sees the same branch on every pass and in
 * every process, with nothing stored to remember it by.
 */
import { createHash } from 'node:crypto';

/** The variant recorded for a profile held out of the journey (the control group). */
export const HOLDOUT_VARIANT = 'holdout';

export const SPLIT_MODES = ['stable', 'random'] as const;
/** `stable`: by a hash of profile, journey and node (sticky); `random`: a fresh draw per msg. */
export type SplitMode = (typeof SPLIT_MODES)[number];

export interface SplitBranch {
  name: string;
  /** Relative: 50/30/20 and 5/3/2 split alike. A weight of 0 is never chosen. */
  weight: number;
}

export interface Split {
  mode: SplitMode;
  branches: SplitBranch[];
  /** Percentage of profiles held out before any branch is chosen, 0 (none) to below 100. */
  holdoutPercent: number;
}

/** Who is being split, and where: the hash input. */
export interface SplitKey {
  profileId: string;
  /** The journey's name; empty outside a journey. */
  journey: string;
  /** The split node's id, so two splits in one journey draw independently. */
  node: string;
}

export type SplitAssignment = { held: false; variant: string; branch: number } | { held: true; variant: typeof HOLDOUT_VARIANT; branch: null };

export class SplitConfigError extends Error {
  readonly code = 'BAD_SPLIT';
  constructor(message: string) {
    super(message);
    this.name = 'SplitConfigError';
  }
}

const MAX_BRANCHES = 100;
const MAX_NAME_LENGTH = 64;

export const isSplitMode = (value: unknown): value is SplitMode => typeof value === 'string' && (SPLIT_MODES as readonly string[]).includes(value);

/** Checks a split's settings; throws a SplitConfigError that says what is wrong. */
export function checkSplit(input: { mode?: unknown; branches?: unknown; holdoutPercent?: unknown }): Split {
  const mode = input.mode ?? 'stable';
  if (!isSplitMode(mode)) throw new SplitConfigError(`unknown split mode ${JSON.stringify(mode)}: use ${SPLIT_MODES.join(' or ')}`);
  if (!Array.isArray(input.branches) || input.branches.length === 0) throw new SplitConfigError('a split needs at least one branch');
  if (input.branches.length > MAX_BRANCHES) throw new SplitConfigError(`a split has at most ${MAX_BRANCHES} branches`);
  const seen = new Set<string>();
  const branches = input.branches.map((raw: unknown, i): SplitBranch => {
    const { name: rawName, weight } = (typeof raw === 'object' && raw !== null ? raw : {}) as { name?: unknown; weight?: unknown };
    const name = typeof rawName === 'string' ? rawName.trim() : '';
    if (!name) throw new SplitConfigError(`branch ${i + 1} has no name`);
    if (name.length > MAX_NAME_LENGTH || /[\u0000-\u001f]/.test(name)) {
      throw new SplitConfigError(`branch name ${JSON.stringify(name)} must be 1 to ${MAX_NAME_LENGTH} characters without control characters`);
    }
    // The variant of a held-out profile is `holdout`: a branch of that name could not be told apart from it.
    if (name === HOLDOUT_VARIANT) throw new SplitConfigError(`"${HOLDOUT_VARIANT}" is reserved for the control group: name the branch otherwise`);
    if (seen.has(name)) throw new SplitConfigError(`two branches are named ${JSON.stringify(name)}`);
    seen.add(name);
    if (typeof weight !== 'number' || !Number.isFinite(weight) || weight < 0) {
      throw new SplitConfigError(`the weight of branch ${name} must be a number of 0 or more, not ${String(weight)}`);
    }
    return { name, weight };
  });
  if (!branches.some((b) => b.weight > 0)) throw new SplitConfigError('every branch has weight 0: give at least one branch a weight above 0');
  const holdoutPercent = input.holdoutPercent ?? 0;
  if (typeof holdoutPercent !== 'number' || !Number.isFinite(holdoutPercent) || holdoutPercent < 0 || holdoutPercent >= 100) {
    throw new SplitConfigError(`the holdout must be a percentage from 0 to below 100, not ${String(holdoutPercent)}`);
  }
  return { mode, branches, holdoutPercent };
}

/**
 * A number in [0, 1) fixed by the key and a salt: the first 48 bits of a SHA-256, which are
 * uniform enough that 100,000 profiles land within a fraction of a percent of the weights.
 * The salt keeps draws made for different purposes from the same key independent.
 */
export function stableFraction(salt: string, key: SplitKey): number {
  // JSON keeps the parts apart: ("ab", "c") and ("a", "bc") hash differently.
  const digest = createHash('sha256').update(JSON.stringify([salt, key.profileId, key.journey, key.node])).digest();
  return digest.readUIntBE(0, 6) / 2 ** 48;
}

/** The branch whose cumulative weight range holds `fraction` (in [0, 1)). */
export function pickBranch(branches: readonly SplitBranch[], fraction: number): number {
  const total = branches.reduce((sum, b) => sum + b.weight, 0);
  const point = fraction * total;
  let cumulative = 0;
  let lastWeighted = -1;
  for (const [i, branch] of branches.entries()) {
    if (branch.weight <= 0) continue;
    cumulative += branch.weight;
    lastWeighted = i;
    if (point < cumulative) return i;
  }
  // Only reached through floating-point rounding at the very top of the range.
  return lastWeighted;
}

/**
 * Assigns a profile. Holdout is decided first, always by the stable hash (a control group is
 * only a control group if its members stay in it); the branch then comes from a second,
 * independently salted hash, or from `random` in random mode.
 */
export function assignVariant(split: Split, key: SplitKey, random: () => number = Math.random): SplitAssignment {
  if (split.holdoutPercent > 0 && stableFraction('holdout', key) * 100 < split.holdoutPercent) {
    return { held: true, variant: HOLDOUT_VARIANT, branch: null };
  }
  const fraction = split.mode === 'random' ? random() : stableFraction('branch', key);
  const branch = pickBranch(split.branches, fraction);
  return { held: false, variant: split.branches[branch].name, branch };
}
