/**
 * Command-line parsing shared by the subcommands: every `anvil serve` setting is accepted as a
 * flag (so `--data-dir`, `--config` etc. work everywhere), plus the command's own options.
 */
import { loadConfig, type Config, type FlagValues } from '../config/load.js';
import { CONFIG_FLAG, SETTINGS } from '../config/settings.js';

import { parseOptions, type OptionSpec, type OptionValues } from './usage-error.js';

export type { OptionSpec } from './usage-error.js';

export interface ParsedCommand {
  values: OptionValues;
  /** Loaded lazily, so `--help` never fails on a bad setting. */
  config(): Config;
}

/** Parses a command's own options plus every serve setting; the config is loaded on demand. */
export function parseCommand(args: string[], own: OptionSpec): ParsedCommand {
  const options: OptionSpec = { config: { type: 'string' }, help: { type: 'boolean' }, ...own };
  for (const s of SETTINGS) options[s.flag.slice(2)] = { type: s.kind === 'bool' ? 'boolean' : 'string' };
  // Throws a UsageError naming an unknown option and the nearest known one.
  const values = parseOptions(args, options);
  return {
    values,
    config: () => {
      const flags: FlagValues = {};
      for (const s of SETTINGS) {
        const v = values[s.flag.slice(2)];
        if (v !== undefined && !Array.isArray(v)) flags[s.flag] = v;
      }
      if (typeof values.config === 'string') flags[CONFIG_FLAG.flag] = values.config;
      return loadConfig({ flags, env: process.env });
    },
  };
}

/** The settings part of a command's help text. */
export function settingsHelp(): string {
  const lines = [`  ${CONFIG_FLAG.flag} <file>  (${CONFIG_FLAG.env})`, `      ${CONFIG_FLAG.doc}`];
  for (const s of SETTINGS) {
    const value = s.kind === 'bool' ? '' : ' <value>';
    lines.push(`  ${s.flag}${value}  (${s.env}; file key ${s.key}${'default' in s ? `; default ${s.default}` : ''})`);
    lines.push(`      ${s.doc}`);
  }
  return lines.join('\n');
}

/** The audit actor for commands run on this host: the operating-system user. */
export function operatorActor(): string {
  return `operator:${process.env.SUDO_USER ?? process.env.USER ?? 'unknown'}`;
}
