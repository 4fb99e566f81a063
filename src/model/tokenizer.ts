// Byte-level BPE tokenizer loaded from a Hugging Face tokenizer.json (Qwen2 / Qwen2-VL / Qwen2.5-VL):
// added tokens matched first, then normalizer, pre-tokenizer (Split regex + ByteLevel), BPE merges;
// decode maps tokens back through the byte-to-unicode table. Takes parsed JSON, so the browser and
// Node share it.

import { TokenizerFileError, UnsupportedTokenizerError } from './errors.ts';

/** One entry of tokenizer.json `added_tokens`. */
export interface AddedTokenJson {
  id: number;
  content: string;
  special?: boolean;
  single_word?: boolean;
  lstrip?: boolean;
  rstrip?: boolean;
  normalized?: boolean;
}

/** A component of tokenizer.json (normalizer, pre_tokenizer, decoder...): a `type` and its fields. */
export interface TokenizerComponentJson {
  type: string;
  [field: string]: unknown;
}

/** The parts of tokenizer.json this loader reads. */
export interface TokenizerJson {
  model: {
    type?: string;
    vocab?: Record<string, number>;
    merges?: (string | [string, string])[];
    unk_token?: string | null;
    [field: string]: unknown;
  };
  added_tokens?: AddedTokenJson[];
  normalizer?: TokenizerComponentJson | null;
  pre_tokenizer?: TokenizerComponentJson | null;
  decoder?: TokenizerComponentJson | null;
  [field: string]: unknown;
}

/** A special-token field of tokenizer_config.json: a string or an AddedToken-like object. */
export type SpecialTokenField = string | { content: string } | null;

/** The parts of tokenizer_config.json this loader reads. */
export interface TokenizerConfigJson {
  chat_template?: string | { name: string; template: string }[];
  eos_token?: SpecialTokenField;
  pad_token?: SpecialTokenField;
  bos_token?: SpecialTokenField;
  unk_token?: SpecialTokenField;
  [field: string]: unknown;
}

export interface LoadTokenizerOptions {
  /** A chat template given separately (e.g. Qwen2-VL's chat_template.json); wins over the config's. */
  chatTemplate?: string;
}

export interface DecodeOptions {
  /** Drop added tokens marked `special` (e.g. <|im_end|>, <|image_pad|>). */
  skipSpecial?: boolean;
}

// GPT-2's reversible byte <-> printable-unicode map: printable bytes stand for themselves, the others
// are shifted to code points from 256 up, in byte order.
function byteToUnicodeTable(): string[] {
  const table: string[] = new Array(256);
  let shifted = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    table[b] = String.fromCodePoint(printable ? b : 256 + shifted++);
  }
  return table;
}

/** Byte-level BPE's alphabet: the character standing for each byte. */
export const BYTE_TO_CHAR: readonly string[] = byteToUnicodeTable();
const CHAR_TO_BYTE = new Map<string, number>(BYTE_TO_CHAR.map((c, b) => [c, b]));

// GPT-2's pre-tokenization pattern, used by ByteLevel when `use_regex` is true.
const GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/**
 * Translates a tokenizer.json (Oniguruma / Rust syntax) regex into a JS `u`-flag regex: `\s` and `\S`
 * become the Unicode White_Space property (JS's own `\s` differs on U+0085 and U+FEFF), and scoped
 * case-insensitive groups `(?i:...)` (not in JS before ES2025) spell out both cases of ASCII letters.
 */
export function translateRegex(pattern: string): RegExp {
  let out = '';
  const caseStack: boolean[] = [false];
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    const ci = caseStack[caseStack.length - 1]!;
    if (c === '\\') {
      const n = pattern[i + 1] ?? '';
      if (n === 's') out += '\\p{White_Space}';
      else if (n === 'S') out += inClass ? unsupportedRegex(pattern) : '\\P{White_Space}';
      else out += c + n;
      i++;
    } else if (inClass) {
      if (c === ']') inClass = false;
      else if (ci && /[a-zA-Z]/.test(c)) unsupportedRegex(pattern);
      out += c;
    } else if (c === '[') {
      inClass = true;
      out += c;
    } else if (c === '(') {
      if (pattern.startsWith('(?i:', i)) {
        caseStack.push(true);
        out += '(?:';
        i += 3;
      } else if (pattern.startsWith('(?', i) && /^\(\?[a-zA-Z-]/.test(pattern.slice(i, i + 3))) {
        unsupportedRegex(pattern);
      } else {
        caseStack.push(ci);
        out += c;
      }
    } else if (c === ')') {
      caseStack.pop();
      out += c;
    } else if (ci && /[a-zA-Z]/.test(c)) {
      out += `[${c.toLowerCase()}${c.toUpperCase()}]`;
    } else {
      out += c;
    }
  }
  try {
    return new RegExp(out, 'gu');
  } catch (e) {
    throw new TokenizerFileError(`pre_tokenizer regex ${JSON.stringify(pattern)} does not compile: ${e}`);
  }
}

function unsupportedRegex(pattern: string): never {
  throw new UnsupportedTokenizerError('pre_tokenizer.Split.pattern', pattern);
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

/** Splits `text` into the matches of `re` and the gaps between them (behaviour "Isolated"). */
function splitIsolated(text: string, re: RegExp, keepGaps: boolean): string[] {
  const pieces: string[] = [];
  let last = 0;
  for (const m of text.matchAll(re)) {
    if (m[0].length === 0) continue;
    if (keepGaps && m.index > last) pieces.push(text.slice(last, m.index));
    pieces.push(m[0]);
    last = m.index + m[0].length;
  }
  if (keepGaps && last < text.length) pieces.push(text.slice(last));
  return pieces;
}

type PieceStep = (pieces: string[]) => string[];

function buildNormalizer(json: TokenizerComponentJson | null | undefined): (s: string) => string {
  if (json == null) return (s) => s;
  switch (json.type) {
    case 'NFC':
    case 'NFD':
    case 'NFKC':
    case 'NFKD': {
      const form = json.type;
      return (s) => s.normalize(form);
    }
    case 'Sequence': {
      const steps = ((json.normalizers as TokenizerComponentJson[] | undefined) ?? []).map(buildNormalizer);
      return (s) => steps.reduce((acc, f) => f(acc), s);
    }
    default:
      throw new UnsupportedTokenizerError('normalizer', json.type);
  }
}

function toByteLevel(piece: string, encoder: TextEncoder): string {
  let out = '';
  for (const b of encoder.encode(piece)) out += BYTE_TO_CHAR[b];
  return out;
}

function buildPreTokenizer(json: TokenizerComponentJson | null | undefined): PieceStep {
  if (json == null) return (pieces) => pieces;
  switch (json.type) {
    case 'Sequence': {
      const steps = ((json.pretokenizers as TokenizerComponentJson[] | undefined) ?? []).map(
        buildPreTokenizer,
      );
      return (pieces) => steps.reduce((acc, f) => f(acc), pieces);
    }
    case 'Split': {
      const pattern = json.pattern as { Regex?: string; String?: string } | undefined;
      const behavior = String(json.behavior ?? 'Isolated');
      if (json.invert === true) throw new UnsupportedTokenizerError('pre_tokenizer.Split.invert', 'true');
      if (behavior !== 'Isolated' && behavior !== 'Removed') {
        throw new UnsupportedTokenizerError('pre_tokenizer.Split.behavior', behavior);
      }
      let re: RegExp;
      if (typeof pattern?.Regex === 'string') re = translateRegex(pattern.Regex);
      else if (typeof pattern?.String === 'string') re = new RegExp(escapeRegex(pattern.String), 'gu');
      else throw new TokenizerFileError('pre_tokenizer Split has no pattern');
      const keepMatches = behavior === 'Isolated';
      return (pieces) =>
        pieces.flatMap((p) =>
          keepMatches ? splitIsolated(p, re, true) : p.split(re).filter((s) => s !== ''),
        );
    }
    case 'ByteLevel': {
      const addPrefixSpace = json.add_prefix_space === true;
      const re = json.use_regex === false ? null : translateRegex(GPT2_PATTERN);
      const encoder = new TextEncoder();
      return (pieces) =>
        pieces.flatMap((p) => {
          const spaced = addPrefixSpace && !p.startsWith(' ') ? ` ${p}` : p;
          const parts = re ? splitIsolated(spaced, re, true) : [spaced];
          return parts.map((part) => toByteLevel(part, encoder));
        });
    }
    default:
      throw new UnsupportedTokenizerError('pre_tokenizer', json.type);
  }
}

function specialTokenContent(field: SpecialTokenField | undefined): string | undefined {
  if (field == null) return undefined;
  return typeof field === 'string' ? field : field.content;
}

const CACHE_LIMIT = 50_000;

/** A loaded byte-level BPE tokenizer. Create with `loadTokenizer`. */
export class Tokenizer {
  /** The checkpoint's chat template (Jinja source), if the config or options gave one. */
  readonly chatTemplate: string | undefined;
  /** Special-token strings from tokenizer_config.json (passed to the chat template). */
  readonly eosToken: string | undefined;
  readonly padToken: string | undefined;
  readonly bosToken: string | undefined;
  /** The vocabulary size including added tokens (max id + 1). */
  readonly vocabSize: number;

  private readonly vocab: Map<string, number>;
  private readonly idToTokenMap: Map<number, string>;
  private readonly mergeRanks: Map<string, number>;
  private readonly added: Map<string, AddedTokenJson>;
  private readonly addedById: Map<number, AddedTokenJson>;
  private readonly addedRe: RegExp | null;
  private readonly normalize: (s: string) => string;
  private readonly preTokenize: PieceStep;
  private readonly unkId: number | undefined;
  private readonly cache = new Map<string, number[]>();
  private readonly decoder = new TextDecoder('utf-8', { fatal: false });

  constructor(json: TokenizerJson, config: TokenizerConfigJson = {}, options: LoadTokenizerOptions = {}) {
    if (json == null || typeof json !== 'object' || json.model == null || typeof json.model !== 'object') {
      throw new TokenizerFileError('tokenizer.json has no "model" object');
    }
    const model = json.model;
    const modelType = model.type ?? (model.merges ? 'BPE' : 'unknown');
    if (modelType !== 'BPE') throw new UnsupportedTokenizerError('model', modelType);
    if (model.vocab == null || typeof model.vocab !== 'object') {
      throw new TokenizerFileError('tokenizer.json model has no "vocab" object');
    }
    if (!Array.isArray(model.merges))
      throw new TokenizerFileError('tokenizer.json model has no "merges" array');
    if (json.decoder != null && json.decoder.type !== 'ByteLevel') {
      throw new UnsupportedTokenizerError('decoder', json.decoder.type);
    }
    for (const key of ['continuing_subword_prefix', 'end_of_word_suffix'] as const) {
      const v = model[key];
      if (typeof v === 'string' && v !== '') throw new UnsupportedTokenizerError(`model.${key}`, v);
    }

    this.vocab = new Map(Object.entries(model.vocab));
    this.idToTokenMap = new Map();
    for (const [tok, id] of this.vocab) this.idToTokenMap.set(id, tok);

    this.mergeRanks = new Map();
    model.merges.forEach((m, rank) => {
      let pair: [string, string];
      if (typeof m === 'string') {
        const sp = m.indexOf(' ');
        if (sp <= 0 || sp !== m.lastIndexOf(' '))
          throw new TokenizerFileError(`merge ${rank} ("${m}") is not "a b"`);
        pair = [m.slice(0, sp), m.slice(sp + 1)];
      } else if (Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string') {
        pair = [m[0], m[1]];
      } else {
        throw new TokenizerFileError(`merge ${rank} (${JSON.stringify(m)}) is neither "a b" nor [a, b]`);
      }
      const key = pairKey(pair[0], pair[1]);
      if (!this.mergeRanks.has(key)) this.mergeRanks.set(key, rank);
    });

    this.added = new Map();
    this.addedById = new Map();
    for (const t of json.added_tokens ?? []) {
      if (typeof t?.content !== 'string' || !Number.isInteger(t.id)) {
        throw new TokenizerFileError(`added token ${JSON.stringify(t)} needs "id" and "content"`);
      }
      this.added.set(t.content, t);
      this.addedById.set(t.id, t);
      this.idToTokenMap.set(t.id, t.content);
    }
    const contents = [...this.added.keys()].filter((c) => c !== '').sort((a, b) => b.length - a.length);
    this.addedRe = contents.length > 0 ? new RegExp(contents.map(escapeRegex).join('|'), 'gu') : null;

    this.normalize = buildNormalizer(json.normalizer);
    this.preTokenize = buildPreTokenizer(json.pre_tokenizer);
    const unk = model.unk_token;
    this.unkId = typeof unk === 'string' ? this.vocab.get(unk) : undefined;

    let maxId = -1;
    for (const id of this.idToTokenMap.keys()) maxId = Math.max(maxId, id);
    this.vocabSize = maxId + 1;

    const template = config.chat_template;
    this.chatTemplate =
      options.chatTemplate ??
      (typeof template === 'string'
        ? template
        : Array.isArray(template)
          ? (template.find((t) => t.name === 'default') ?? template[0])?.template
          : undefined);
    this.eosToken = specialTokenContent(config.eos_token);
    this.padToken = specialTokenContent(config.pad_token);
    this.bosToken = specialTokenContent(config.bos_token);
  }

  /** The id of a token string (vocabulary or added token), or undefined. */
  tokenToId(token: string): number | undefined {
    return this.added.get(token)?.id ?? this.vocab.get(token);
  }

  /** The token string of an id (byte-level form for vocabulary tokens), or undefined. */
  idToToken(id: number): string | undefined {
    return this.idToTokenMap.get(id);
  }

  /** Whether `id` is an added token marked special. */
  isSpecial(id: number): boolean {
    return this.addedById.get(id)?.special === true;
  }

  /** Token ids of `text`; added tokens (e.g. <|im_start|>) inside it are matched whole, never split. */
  encode(text: string): number[] {
    const ids: number[] = [];
    let last = 0;
    if (this.addedRe) {
      for (const m of text.matchAll(this.addedRe)) {
        if (m.index > last) this.encodeOrdinary(text.slice(last, m.index), ids);
        ids.push(this.added.get(m[0])!.id);
        last = m.index + m[0].length;
      }
    }
    if (last < text.length) this.encodeOrdinary(text.slice(last), ids);
    return ids;
  }

  /** Text of `ids`: added tokens verbatim (or dropped when special and `skipSpecial`), the rest byte-decoded. */
  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    let out = '';
    let bytes: number[] = [];
    const flush = () => {
      if (bytes.length > 0) out += this.decoder.decode(new Uint8Array(bytes));
      bytes = [];
    };
    for (const id of ids) {
      const added = this.addedById.get(id);
      if (added) {
        flush();
        if (!(options.skipSpecial && added.special)) out += added.content;
        continue;
      }
      const tok = this.idToTokenMap.get(id);
      if (tok === undefined) throw new TokenizerFileError(`token id ${id} is not in the vocabulary`);
      for (const ch of tok) {
        const b = CHAR_TO_BYTE.get(ch);
        if (b === undefined) {
          flush();
          out += ch;
        } else {
          bytes.push(b);
        }
      }
    }
    flush();
    return out;
  }

  private encodeOrdinary(text: string, ids: number[]): void {
    for (const piece of this.preTokenize([this.normalize(text)])) {
      let pieceIds = this.cache.get(piece);
      if (!pieceIds) {
        pieceIds = this.bpe(piece);
        if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
        this.cache.set(piece, pieceIds);
      }
      for (const id of pieceIds) ids.push(id);
    }
  }

  // Repeatedly merges the adjacent pair with the lowest merge rank (leftmost first on ties).
  private bpe(piece: string): number[] {
    const symbols = Array.from(piece);
    while (symbols.length > 1) {
      let bestRank = Number.POSITIVE_INFINITY;
      let bestAt = -1;
      for (let i = 0; i < symbols.length - 1; i++) {
        const rank = this.mergeRanks.get(pairKey(symbols[i]!, symbols[i + 1]!));
        if (rank !== undefined && rank < bestRank) {
          bestRank = rank;
          bestAt = i;
        }
      }
      if (bestAt < 0) break;
      const a = symbols[bestAt]!;
      const b = symbols[bestAt + 1]!;
      for (let i = bestAt; i < symbols.length - 1; i++) {
        if (symbols[i] === a && symbols[i + 1] === b) symbols.splice(i, 2, a + b);
      }
    }
    return symbols.map((s) => {
      const id = this.vocab.get(s) ?? this.unkId;
      if (id === undefined)
        throw new TokenizerFileError(`BPE produced "${s}", which is not in the vocabulary`);
      return id;
    });
  }
}

function pairKey(a: string, b: string): string {
  return `${a}\u0000${b}`;
}

/**
 * Loads a tokenizer from parsed tokenizer.json (and optionally tokenizer_config.json, for the chat
 * template and special tokens). Throws UnsupportedTokenizerError for non-BPE models or unknown
 * components, TokenizerFileError for malformed files.
 */
export function loadTokenizer(
  tokenizerJson: unknown,
  tokenizerConfig?: unknown,
  options?: LoadTokenizerOptions,
): Tokenizer {
  return new Tokenizer(
    tokenizerJson as TokenizerJson,
    (tokenizerConfig ?? {}) as TokenizerConfigJson,
    options,
  );
}
