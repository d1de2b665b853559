/**
 * Command-line mistakes: one error type that main turns into a one-line message (naming the bad
 * word and the nearest valid one) and exit status 2, and the strict option parser every command uses.
 */
import { parseArgs } from 'node:util';

/** A mistake in how a command was typed; never a failure of the work it would do. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Levenshtein distance, for "did you mean" suggestions. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const saved = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = saved;
    }
  }
  return row[b.length]!;
}

/** The candidate closest to `word`, when it is close enough to be a plausible typo. */
export function nearest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = c.startsWith(word) && word.length >= 2 ? 1 : distance(word, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(best.length / 3)) ? best : undefined;
}

/** `unknown <what> "<word>"`, with the nearest valid word when there is one. */
export function unknownWord(what: string, word: string, candidates: readonly string[]): UsageError {
  const suggestion = nearest(word, candidates);
  return new UsageError(`unknown ${what} ${JSON.stringify(word)}${suggestion ? ` (did you mean ${JSON.stringify(suggestion)}?)` : `; valid: ${candidates.join(', ')}`}`);
}

export type OptionSpec = Record<string, { type: 'string' | 'boolean'; multiple?: boolean }>;
export type OptionValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

/**
 * node:util parseArgs in strict mode, with its errors turned into UsageErrors that name the bad
 * option and suggest the nearest known one. Positional arguments are refused.
 */
export function parseOptions(args: string[], options: OptionSpec): OptionValues {
  const known = Object.keys(options).map((k) => `--${k}`);
  const { tokens } = parseArgs({ args, options, allowPositionals: true, strict: false, tokens: true });
  for (const t of tokens) {
    if (t.kind === 'option' && !(t.name in options)) throw unknownWord('option', t.rawName, known);
    if (t.kind === 'positional') throw new UsageError(`unexpected argument ${JSON.stringify(t.value)}`);
    if (t.kind === 'option') {
      const spec = options[t.name]!;
      if (spec.type === 'string' && t.value === undefined) throw new UsageError(`option ${t.rawName} needs a value`);
      if (spec.type === 'boolean' && t.inlineValue) throw new UsageError(`option ${t.rawName} takes no value`);
    }
  }
  try {
    return parseArgs({ args, options, allowPositionals: false, strict: true }).values;
  } catch (e) {
    throw new UsageError((e as Error).message.split('. ')[0]!);
  }
}
