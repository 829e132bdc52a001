// What the streams pages share.

/** A share as a percentage with two decimals, or a dash. */
export function percent(value) {
  return value === null || value === undefined ? "–" : `${(100 * value).toFixed(2)} %`;
}

/** A number with `digits` decimals, or a dash. */
export function fixed(value, digits = 4) {
  return value === null || value === undefined ? "–" : value.toFixed(digits);
}

/** The trivial rules every stream runs beside its learners. */
export const RULES = ["always up", "same as last", "opposite of last", "majority so far"];
