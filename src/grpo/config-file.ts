// Reading a training configuration file (JSON or YAML text, e.g. a TRL recipe's YAML) into a validated
// GrpoConfig. Errors name the file and, where the text tells, the line: the syntax error's, or the line of
// the offending key. A top-level `preset` key picks a preset (see PRESETS) under the file's values.
import { isMap, isScalar, LineCounter, parseDocument } from 'yaml';
import { type GrpoConfig, GrpoConfigError, type ResolveOptions, resolveConfig } from './config.ts';

export { configToJson } from './config.ts';

/** A configuration file that cannot be read, or whose values are invalid (then `field` names the key). */
export class GrpoConfigFileError extends GrpoConfigError {
  override name = 'GrpoConfigFileError';
  constructor(
    readonly file: string,
    /** 1-based; null when unknown. */
    readonly line: number | null,
    field: string,
    problem: string,
  ) {
    super(field, `${file}${line === null ? '' : ` (line ${line})`}: ${problem}`);
  }
}

interface Parsed {
  value: unknown;
  /** The 1-based line of a top-level key, when known. */
  keyLine: (key: string) => number | null;
}

function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/**
 * The offset of the first JSON syntax error in `text` (text.length when it ends too early): engines'
 * JSON.parse messages differ and some give no position.
 */
function jsonErrorOffset(text: string): number {
  let i = 0;
  const fail = (): never => {
    throw i;
  };
  const space = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const literal = (word: string) => {
    for (const ch of word) {
      if (text[i] !== ch) fail();
      i++;
    }
  };
  const string = () => {
    if (text[i] !== '"') fail();
    i++;
    while (i < text.length && text[i] !== '"') {
      if (text.charCodeAt(i) < 0x20) fail();
      if (text[i] === '\\') {
        i++;
        if (text[i] === 'u') {
          for (let k = 0; k < 4; k++) if (!/[0-9a-fA-F]/.test(text[++i] ?? '')) fail();
        } else if (!'"\\/bfnrt'.includes(text[i] ?? 'x')) fail();
      }
      i++;
    }
    if (text[i] !== '"') fail();
    i++;
  };
  const number = () => {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i));
    if (m === null) fail();
    else i += m[0].length;
  };
  const value = (): void => {
    space();
    const c = text[i];
    if (c === '{') {
      i++;
      space();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        space();
        string();
        space();
        if (text[i] !== ':') fail();
        i++;
        value();
        space();
        if (text[i] === ',') i++;
        else if (text[i] === '}') {
          i++;
          return;
        } else fail();
      }
    }
    if (c === '[') {
      i++;
      space();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value();
        space();
        if (text[i] === ',') i++;
        else if (text[i] === ']') {
          i++;
          return;
        } else fail();
      }
    }
    if (c === '"') string();
    else if (c === 't') literal('true');
    else if (c === 'f') literal('false');
    else if (c === 'n') literal('null');
    else number();
  };
  try {
    value();
    space();
    return i < text.length ? i : text.length;
  } catch (at) {
    return Math.min(typeof at === 'number' ? at : 0, text.length);
  }
}

function parseJson(text: string, file: string): Parsed {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    const offset = jsonErrorOffset(text);
    const line = lineOf(text, offset);
    const column = offset - text.lastIndexOf('\n', offset - 1);
    const what =
      offset >= text.length ? 'the text ends too early' : `unexpected ${JSON.stringify(text[offset])}`;
    throw new GrpoConfigFileError(file, line, '', `JSON syntax error at column ${column}: ${what}`);
  }
  return {
    value,
    keyLine: (key) => {
      const escaped = JSON.stringify(key).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      const m = new RegExp(`${escaped}\\s*:`).exec(text);
      return m === null ? null : lineOf(text, m.index);
    },
  };
}

function parseYaml(text: string, file: string): Parsed {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const error = doc.errors[0];
  if (error) {
    const { line, col } = lineCounter.linePos(error.pos[0]);
    throw new GrpoConfigFileError(file, line, '', `YAML syntax error at column ${col}: ${error.message}`);
  }
  return {
    value: doc.toJS(),
    keyLine: (key) => {
      if (!isMap(doc.contents)) return null;
      for (const item of doc.contents.items) {
        if (isScalar(item.key) && String(item.key.value) === key && item.key.range)
          return lineCounter.linePos(item.key.range[0]).line;
      }
      return null;
    },
  };
}

function extension(fileName: string): string {
  const base = fileName.split(/[\\/]/).pop() ?? fileName;
  const dot = base.lastIndexOf('.');
  return dot < 0 ? '' : base.slice(dot).toLowerCase();
}

/**
 * A validated configuration from a file's text: JSON for .json, YAML for .yaml / .yml, otherwise JSON
 * when it parses as JSON, else YAML. Throws GrpoConfigFileError.
 */
export function parseConfigText(text: string, fileName: string, options: ResolveOptions = {}): GrpoConfig {
  if (text.trim() === '')
    throw new GrpoConfigFileError(fileName, null, '', 'the file is empty; write option: value pairs');
  const ext = extension(fileName);
  let parsed: Parsed;
  if (ext === '.json') parsed = parseJson(text, fileName);
  else if (ext === '.yaml' || ext === '.yml') parsed = parseYaml(text, fileName);
  else {
    try {
      parsed = parseJson(text, fileName);
    } catch {
      parsed = parseYaml(text, fileName);
    }
  }

  const { value, keyLine } = parsed;
  if (value === null || value === undefined)
    throw new GrpoConfigFileError(fileName, null, '', 'the file is empty; write option: value pairs');
  if (typeof value !== 'object' || Array.isArray(value))
    throw new GrpoConfigFileError(
      fileName,
      null,
      '',
      `the file must hold a mapping of option names to values, not ${Array.isArray(value) ? 'a list' : typeof value}`,
    );

  const { preset: filePreset, ...input } = value as Record<string, unknown>;
  let preset = options.preset;
  if (filePreset !== undefined) {
    if (typeof filePreset !== 'string')
      throw new GrpoConfigFileError(
        fileName,
        keyLine('preset'),
        'preset',
        `preset must be a preset name, got ${JSON.stringify(filePreset)}`,
      );
    if (preset !== undefined && preset !== filePreset)
      throw new GrpoConfigFileError(
        fileName,
        keyLine('preset'),
        'preset',
        `the file asks for preset '${filePreset}' but preset '${preset}' was also given; choose one`,
      );
    preset = filePreset;
  }

  try {
    return resolveConfig(input, { ...options, preset });
  } catch (e) {
    if (!(e instanceof GrpoConfigError)) throw e;
    const key = e.field.replace(/\[\d+\]$/, '');
    const line = e.field === 'preset' ? keyLine('preset') : Object.hasOwn(input, key) ? keyLine(key) : null;
    throw new GrpoConfigFileError(fileName, line, e.field, e.message);
  }
}
