/** The statistics a split report needs: a rate's confidence interval and whether two rates differ. */

export interface Interval {
  low: number;
  high: number;
}

/** z for a two-sided 95 % interval. */
const Z95 = 1.959963984540054;

/** Wilson score interval of `successes` out of `n` (sound near 0 % and 100 % and for small n, unlike the normal one). */
export function wilsonInterval(successes: number, n: number, z = Z95): Interval {
  if (n === 0) return { low: 0, high: 0 };
  const p = successes / n;
  const z2 = z * z;
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / (1 + z2 / n);
  return { low: Math.max(0, centre - half), high: Math.min(1, centre + half) };
}

/** Two-proportion z-test (pooled), two-sided: is rate a different from rate b at the 5 % level? */
export function compareProportions(aSuccesses: number, aN: number, bSuccesses: number, bN: number): { difference: number; z: number; pValue: number; significant: boolean } {
  if (aN === 0 || bN === 0) return { difference: 0, z: 0, pValue: 1, significant: false };
  const pa = aSuccesses / aN;
  const pb = bSuccesses / bN;
  const pooled = (aSuccesses + bSuccesses) / (aN + bN);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / aN + 1 / bN));
  if (se === 0) return { difference: pa - pb, z: 0, pValue: 1, significant: false };
  const z = (pa - pb) / se;
  const pValue = 2 * (1 - normalCdf(Math.abs(z)));
  return { difference: pa - pb, z, pValue, significant: pValue < 0.05 };
}

/** Φ(x), from the complementary error function (Numerical Recipes' erfc, |error| < 1.2e-7). */
export function normalCdf(x: number): number {
  return 1 - 0.5 * erfc(x / Math.SQRT2);
}

function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}
