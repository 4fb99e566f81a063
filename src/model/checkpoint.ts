// A checkpoint's weights across files: a single model.safetensors or shards listed by
// model.safetensors.index.json. Lists every tensor, reads any by name (HF name in either layout),
// and checks the tensors against what a model expects.
import type { ByteSource, SourceOpener } from './byte-source.ts';
import { CheckpointError, type MisShapedTensor, TensorMismatchError } from './errors.ts';
import { canonicalName } from './hf-names.ts';
import { type Dtype, openSafetensors, type SafetensorsFile } from './safetensors.ts';

export const INDEX_FILE = 'model.safetensors.index.json';
export const SINGLE_FILE = 'model.safetensors';

export interface CheckpointTensor {
  /** The name as stored in the checkpoint. */
  name: string;
  /** The name in the canonical (older) HF layout. */
  canonical: string;
  dtype: Dtype;
  shape: number[];
  /** The file holding it. */
  shard: string;
}

export interface Checkpoint {
  /** The weight files, in the order opened. */
  readonly files: readonly string[];
  /** The index's metadata, or the single file's `__metadata__`. */
  readonly metadata: Record<string, unknown>;
  readonly tensors: readonly CheckpointTensor[];
  /** Looks a tensor up by its stored name or its canonical name. */
  get(name: string): CheckpointTensor | undefined;
  readBytes(name: string): Promise<Uint8Array>;
  readF32(name: string): Promise<Float32Array>;
  /** Rows [row, row + rows) along the first dimension, as f32. */
  readF32Rows(name: string, row: number, rows: number): Promise<Float32Array>;
  readF16Bits(name: string): Promise<Uint16Array>;
  readI32(name: string): Promise<Int32Array>;
  /** Closes the sources it opened (file handles in Node). */
  close(): Promise<void>;
}

export interface OpenCheckpointOptions {
  /** Name of the single weights file when there is no index (default model.safetensors). */
  single?: string;
  /** Name of the index file (default model.safetensors.index.json). */
  index?: string;
}

async function readIndex(
  source: ByteSource,
): Promise<{ metadata: Record<string, unknown>; weightMap: Map<string, string> }> {
  const file = source.name;
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(await source.read(0, source.size)));
  } catch (error) {
    throw new CheckpointError(
      file,
      `${file} is not valid JSON (${(error as Error).message}); download it again`,
    );
  }
  const weightMap = (json as { weight_map?: unknown } | null)?.weight_map;
  if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) {
    throw new CheckpointError(file, `${file} has no "weight_map" object; it is not a safetensors index`);
  }
  const map = new Map<string, string>();
  for (const [name, shard] of Object.entries(weightMap)) {
    if (typeof shard !== 'string') {
      throw new CheckpointError(file, `${file}: weight_map entry '${name}' is not a file name`);
    }
    map.set(name, shard);
  }
  const metadata = (json as { metadata?: unknown }).metadata;
  return {
    metadata: typeof metadata === 'object' && metadata !== null ? (metadata as Record<string, unknown>) : {},
    weightMap: map,
  };
}

/**
 * Opens a checkpoint through `open` (a folder drop in the browser, a directory in Node): the index
 * and every shard header are read now, tensor data only when asked for.
 */
export async function openCheckpoint(
  open: SourceOpener,
  options: OpenCheckpointOptions = {},
): Promise<Checkpoint> {
  const indexName = options.index ?? INDEX_FILE;
  const singleName = options.single ?? SINGLE_FILE;
  const sources: ByteSource[] = [];
  const closeAll = async () => {
    await Promise.all(sources.map((s) => s.close?.()));
  };
  try {
    const files = new Map<string, SafetensorsFile>();
    const tensors: CheckpointTensor[] = [];
    let metadata: Record<string, unknown>;
    const indexSource = await open(indexName);
    if (indexSource) {
      sources.push(indexSource);
      const index = await readIndex(indexSource);
      metadata = index.metadata;
      const shardNames = [...new Set(index.weightMap.values())];
      for (const shard of shardNames) {
        const source = await open(shard);
        if (!source) {
          const count = [...index.weightMap.values()].filter((s) => s === shard).length;
          throw new CheckpointError(
            shard,
            `${indexName} lists shard ${shard} (${count} tensors) but there is no such file; ` +
              'add it to the folder (all shards are needed)',
          );
        }
        sources.push(source);
        files.set(shard, await openSafetensors(source));
      }
      for (const [name, shard] of index.weightMap) {
        const info = files.get(shard)!.get(name);
        if (!info) {
          throw new CheckpointError(
            shard,
            `${indexName} places tensor '${name}' in ${shard}, but that file has no such tensor; ` +
              'the shards do not belong to this index',
          );
        }
        tensors.push({ name, canonical: canonicalName(name), dtype: info.dtype, shape: info.shape, shard });
      }
    } else {
      const source = await open(singleName);
      if (!source) {
        throw new CheckpointError(
          undefined,
          `no ${singleName} or ${indexName} found; choose the folder that holds the checkpoint's weights`,
        );
      }
      sources.push(source);
      const file = await openSafetensors(source);
      files.set(singleName, file);
      metadata = { ...file.metadata };
      for (const t of file.tensors) {
        tensors.push({
          name: t.name,
          canonical: canonicalName(t.name),
          dtype: t.dtype,
          shape: t.shape,
          shard: singleName,
        });
      }
    }
    const byName = new Map<string, CheckpointTensor>();
    const byCanonical = new Map<string, CheckpointTensor>();
    for (const t of tensors) {
      byName.set(t.name, t);
      const other = byCanonical.get(t.canonical);
      if (other) {
        throw new CheckpointError(
          t.shard,
          `tensors '${other.name}' and '${t.name}' are the same parameter in two naming layouts; keep one`,
        );
      }
      byCanonical.set(t.canonical, t);
    }
    const get = (name: string) => byName.get(name) ?? byCanonical.get(canonicalName(name));
    const locate = (name: string): [SafetensorsFile, string] => {
      const t = get(name);
      if (!t) throw new CheckpointError(undefined, `the checkpoint has no tensor '${name}'`);
      return [files.get(t.shard)!, t.name];
    };
    return {
      files: [...files.keys()],
      metadata,
      tensors,
      get,
      readBytes: async (name) => {
        const [file, stored] = locate(name);
        return file.readBytes(stored);
      },
      readF32: async (name) => {
        const [file, stored] = locate(name);
        return file.readF32(stored);
      },
      readF32Rows: async (name, row, rows) => {
        const [file, stored] = locate(name);
        return file.readF32Rows(stored, row, rows);
      },
      readF16Bits: async (name) => {
        const [file, stored] = locate(name);
        return file.readF16Bits(stored);
      },
      readI32: async (name) => {
        const [file, stored] = locate(name);
        return file.readI32(stored);
      },
      close: closeAll,
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

export interface TensorMatchReport {
  missing: string[];
  unexpected: string[];
  misShaped: MisShapedTensor[];
}

/** How many names of each kind the error message spells out (the error's fields hold all). */
const LIST_LIMIT = 20;

function listed(title: string, items: string[]): string {
  if (items.length === 0) return '';
  const shown = items.slice(0, LIST_LIMIT).map((s) => `\n  ${s}`);
  const more = items.length > LIST_LIMIT ? `\n  ... and ${items.length - LIST_LIMIT} more` : '';
  return `\n${title} (${items.length}):${shown.join('')}${more}`;
}

/**
 * Compares the checkpoint's tensors with `expected` (name -> shape; either naming layout) by
 * canonical name. Returns the (empty) report when they match; otherwise throws one
 * TensorMismatchError naming every missing, unexpected and mis-shaped tensor.
 */
export function matchTensors(
  checkpoint: Pick<Checkpoint, 'tensors'>,
  expected: Record<string, number[]>,
  options: { allowUnexpected?: boolean } = {},
): TensorMatchReport {
  const want = new Map<string, number[]>();
  for (const [name, shape] of Object.entries(expected)) want.set(canonicalName(name), shape);
  const have = new Map(checkpoint.tensors.map((t) => [t.canonical, t]));
  const missing = [...want.keys()].filter((n) => !have.has(n)).sort();
  const unexpected = options.allowUnexpected ? [] : [...have.keys()].filter((n) => !want.has(n)).sort();
  const misShaped: MisShapedTensor[] = [];
  for (const [name, shape] of want) {
    const t = have.get(name);
    if (t && (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))) {
      misShaped.push({ name, expected: [...shape], actual: [...t.shape] });
    }
  }
  misShaped.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (missing.length + unexpected.length + misShaped.length > 0) {
    const detail =
      'The checkpoint does not match the model (is it the right model and size?).' +
      listed('Missing tensors', missing) +
      listed('Unexpected tensors', unexpected) +
      listed(
        'Tensors with the wrong shape',
        misShaped.map(
          (m) => `${m.name}: expected [${m.expected.join(', ')}], found [${m.actual.join(', ')}]`,
        ),
      );
    throw new TensorMismatchError(missing, unexpected, misShaped, detail);
  }
  return { missing, unexpected, misShaped };
}
