import type { ParseArgsConfig } from 'node:util';
import { setInput, type ServeConfigInput } from '../config/serve-config.js';
import { defaultText, SETTING_KEYS, settingOf, type SettingKey } from '../config/serve-settings.js';
import { UsageError } from './exit-codes.js';

type OptionSpecs = NonNullable<ParseArgsConfig['options']>;

/** `serve`'s parseArgs options: `--config`, and one flag per setting that has one (from the settings table). */
export function serveOptionSpecs(): OptionSpecs {
  const specs: OptionSpecs = { config: { type: 'string' } };
  for (const key of SETTING_KEYS) {
    const { flag, kind } = settingOf(key);
    if (flag === undefined) continue;
    specs[flag] = kind === 'boolean' ? { type: 'boolean' } : { type: 'string', multiple: kind === 'paths' };
  }
  return specs;
}

/** Parsed flag values → the config file's shape. Numbers must be decimal; UsageError otherwise. */
export function flagsToInput(values: Record<string, string | boolean | (string | boolean)[] | undefined>) {
  const input: ServeConfigInput = {};
  for (const key of SETTING_KEYS) {
    const { flag, kind } = settingOf(key);
    if (flag === undefined) continue;
    const value = values[flag];
    if (value === undefined) continue;
    if (kind === 'number') {
      if (typeof value !== 'string' || !/^\d+(\.\d+)?$/.test(value))
        throw new UsageError(`--${flag} takes a number`);
      setInput(input, key, Number(value));
    } else {
      setInput(input, key, value);
    }
  }
  return input;
}

const FLAG_COLUMN = 29;
const WIDTH = 108;

/** `serve --help`'s option lines: every setting, its flag (or "config file only"), help and default. */
export function serveOptionsHelp(): string {
  const lines = [
    option(
      '--config FILE',
      'YAML/JSON config file with any of the keys below (docs/configuration.md); flags override it',
    ),
  ];
  const fileOnly: SettingKey[] = [];
  for (const key of SETTING_KEYS) {
    const setting = settingOf(key);
    if (setting.flag === undefined) {
      fileOnly.push(key);
      continue;
    }
    const name = `--${setting.flag}${setting.arg ? ` ${setting.arg}` : ''}`;
    lines.push(option(name, `${setting.help} [${key}; default ${defaultText(key)}]`));
  }
  lines.push('', 'Config file only:');
  for (const key of fileOnly) lines.push(option(key, `${settingOf(key).help} [default ${defaultText(key)}]`));
  return lines.join('\n');
}

function option(name: string, help: string): string {
  const indent = ' '.repeat(FLAG_COLUMN + 2);
  const head = `  ${name}`;
  const wrapped = wrap(help, WIDTH - FLAG_COLUMN - 2);
  const first =
    head.length < FLAG_COLUMN
      ? `${head.padEnd(FLAG_COLUMN)}  ${wrapped[0] ?? ''}`
      : `${head}\n${indent}${wrapped[0] ?? ''}`;
  return [first, ...wrapped.slice(1).map((l) => `${indent}${l}`)].join('\n');
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(line);
  return lines;
}
