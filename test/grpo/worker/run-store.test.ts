// The run store on an in-memory directory tree with OPFS's behaviour (NotFoundError for a missing entry,
// a writable stream that replaces the file only on close): checkpoints written trainer_state.json last,
// the last 2 kept, interrupted ones ignored and cleaned up, metrics appended and cut back on resume,
// listing, deleting, and the errors that say what to do.
import { describe, expect, it } from 'vitest';
import {
  checkRunId,
  newRunId,
  type RunRecord,
  RunStore,
  RunStoreError,
  type StoreDir,
  type StoreFile,
  type StoreWritable,
} from '../../../src/grpo/worker/run-store.ts';

const notFound = (name: string) => new DOMException(`${name} not found`, 'NotFoundError');

class MemFile implements StoreFile {
  readonly kind = 'file';
  data = new Uint8Array(0);
  constructor(
    readonly name: string,
    private readonly fs: MemFs,
  ) {}
  async getFile(): Promise<Blob> {
    return new Blob([this.data]);
  }
  async createWritable(options: { keepExistingData?: boolean } = {}): Promise<StoreWritable> {
    let buffer = options.keepExistingData ? this.data.slice() : new Uint8Array(0);
    let position = 0;
    return {
      seek: async (p) => {
        position = p;
      },
      write: async (d) => {
        if (this.fs.failWrites) throw new DOMException('quota', 'QuotaExceededError');
        const bytes = typeof d === 'string' ? new TextEncoder().encode(d) : d;
        if (position + bytes.length > buffer.length) {
          const grown = new Uint8Array(position + bytes.length);
          grown.set(buffer);
          buffer = grown;
        }
        buffer.set(bytes, position);
        position += bytes.length;
      },
      close: async () => {
        this.data = buffer;
        this.fs.closed.push(this.name);
      },
      abort: async () => {},
    };
  }
}

class MemDir implements StoreDir {
  readonly kind = 'directory';
  readonly entries = new Map<string, MemDir | MemFile>();
  constructor(
    readonly name: string,
    private readonly fs: MemFs,
  ) {}
  async getDirectoryHandle(name: string, options: { create?: boolean } = {}): Promise<StoreDir> {
    const e = this.entries.get(name);
    if (e instanceof MemDir) return e;
    if (e) throw new DOMException(`${name} is a file`, 'TypeMismatchError');
    if (!options.create) throw notFound(name);
    const dir = new MemDir(name, this.fs);
    this.entries.set(name, dir);
    return dir;
  }
  async getFileHandle(name: string, options: { create?: boolean } = {}): Promise<StoreFile> {
    const e = this.entries.get(name);
    if (e instanceof MemFile) return e;
    if (e) throw new DOMException(`${name} is a folder`, 'TypeMismatchError');
    if (!options.create) throw notFound(name);
    const file = new MemFile(name, this.fs);
    this.entries.set(name, file);
    return file;
  }
  async removeEntry(name: string): Promise<void> {
    if (!this.entries.delete(name)) throw notFound(name);
  }
  async *values(): AsyncIterable<StoreDir | StoreFile> {
    yield* [...this.entries.values()];
  }
}

class MemFs {
  failWrites = false;
  /** Names of files in the order their streams closed. */
  closed: string[] = [];
  readonly root = new MemDir('', this);
}

const bytes = (s: string) => new TextEncoder().encode(s);
const checkpoint = (step: number) => ({
  'adapter_model.safetensors': bytes(`weights ${step}`),
  'trainer_state.json': bytes(`{"step": ${step}}`),
  'optimizer.safetensors': bytes(`moments ${step}`),
});

function record(id: string): RunRecord {
  return {
    format: 'vision-grpo-run',
    version: 1,
    id,
    model: 'nano',
    dataset: 'synthetic (seed 7, 8 rows)',
    config: { max_steps: 3 },
    created: '2025-01-01T12:00:00.000Z',
  };
}

async function storeWithRun(id = 'r1') {
  const fs = new MemFs();
  const store = new RunStore(fs.root);
  await store.writeRun(record(id));
  return { fs, store };
}

describe('run store', () => {
  it('saves checkpoints with trainer_state.json last and keeps the last two', async () => {
    const { fs, store } = await storeWithRun();
    fs.closed = [];
    const first = await store.saveCheckpoint('r1', 1, checkpoint(1));
    expect(first).toEqual({ path: 'runs/r1/checkpoint-1', removed: [] });
    expect(fs.closed.at(-1)).toBe('trainer_state.json');
    await store.saveCheckpoint('r1', 2, checkpoint(2));
    const third = await store.saveCheckpoint('r1', 3, checkpoint(3));
    expect(third.removed).toEqual([1]);
    const kept = await store.checkpoints('r1');
    expect(kept.map((c) => c.step)).toEqual([2, 3]);
    expect(kept[1]).toEqual({
      step: 3,
      path: 'runs/r1/checkpoint-3',
      files: ['adapter_model.safetensors', 'optimizer.safetensors', 'trainer_state.json'],
      bytes: 9 + 9 + 11,
    });
    expect(new TextDecoder().decode(await store.readCheckpointFile('r1', 3, 'optimizer.safetensors'))).toBe(
      'moments 3',
    );
    expect(await store.readCheckpointFile('r1', 3, 'missing.json')).toBeUndefined();
    expect(await store.resumeStep('r1')).toBe(3);
    expect(await store.resumeStep('r1', 2)).toBe(2);
    await expect(store.resumeStep('r1', 1)).rejects.toThrow(/no checkpoint-1; it keeps the last 2: 2, 3/);
  });

  it('an interrupted save is never listed, and the next save removes it', async () => {
    const { fs, store } = await storeWithRun();
    await store.saveCheckpoint('r1', 1, checkpoint(1));
    fs.failWrites = true;
    await expect(store.saveCheckpoint('r1', 2, checkpoint(2))).rejects.toThrow(/quota/);
    fs.failWrites = false;
    expect((await store.checkpoints('r1')).map((c) => c.step)).toEqual([1]);
    expect(await store.resumeStep('r1')).toBe(1);
    await store.saveCheckpoint('r1', 3, checkpoint(3));
    const run = (await (await fs.root.getDirectoryHandle('runs')).getDirectoryHandle('r1')) as MemDir;
    expect([...run.entries.keys()].sort()).toEqual(['checkpoint-1', 'checkpoint-3', 'run.json']);
  });

  it('a run resumed from an earlier checkpoint replaces the later ones when it saves', async () => {
    const { store } = await storeWithRun();
    for (const step of [4, 5]) await store.saveCheckpoint('r1', step, checkpoint(step));
    // Resumed from 4 and stopped at 5 again: the new checkpoint-5 replaces the old one.
    expect((await store.saveCheckpoint('r1', 5, checkpoint(5))).removed).toEqual([]);
    expect((await store.checkpoints('r1')).map((c) => c.step)).toEqual([4, 5]);
    // Resumed from 4 and stopped there: checkpoint-5 is of the abandoned steps.
    expect((await store.saveCheckpoint('r1', 4, checkpoint(4))).removed).toEqual([5]);
    expect((await store.checkpoints('r1')).map((c) => c.step)).toEqual([4]);
  });

  it('metrics: appended, cut back to a resumed step, the last line listed', async () => {
    const { store } = await storeWithRun();
    for (const step of [1, 2, 3]) await store.appendMetrics('r1', { step, loss: step / 10, reward: null });
    await store.saveCheckpoint('r1', 2, checkpoint(2));
    let [run] = await store.list();
    expect(run!.lastMetrics).toEqual({ step: 3, loss: 0.3, reward: null });
    await store.truncateMetrics('r1', 2);
    expect(await store.readMetrics('r1')).toBe(
      '{"step":1,"loss":0.1,"reward":null}\n{"step":2,"loss":0.2,"reward":null}\n',
    );
    [run] = await store.list();
    expect(run).toMatchObject({ ...record('r1'), lastMetrics: { step: 2 } });
    expect(run!.checkpoints.map((c) => c.step)).toEqual([2]);
    const held = { rows: 'synthetic (seed 424242, 4 rows)', n: 4, mean_iou: 0.3, format_rate: 1 };
    await store.appendEval('r1', { step: 0, acc50: 0, ...held });
    await store.appendEval('r1', { step: 2, acc50: 0.25, ...held });
    // What a run resumed from step 1 brings back: the lines of steps up to 1.
    expect(await store.history('r1', 1)).toEqual({
      metrics: [{ step: 1, loss: 0.1, reward: null }],
      evals: [{ step: 0, acc50: 0, ...held }],
    });
    expect((await store.history('r1', 2)).evals.map((e) => e.step)).toEqual([0, 2]);
  });

  it('lists runs oldest first, deletes one, and says what to do for a missing one', async () => {
    const fs = new MemFs();
    const store = new RunStore(fs.root);
    expect(await store.list()).toEqual([]);
    await store.writeRun(record('20250102-000000-bbbb'));
    await store.writeRun(record('20250101-000000-aaaa'));
    expect((await store.list()).map((r) => r.id)).toEqual(['20250101-000000-aaaa', '20250102-000000-bbbb']);
    expect((await store.list())[0]!.lastMetrics).toBeNull();
    await store.deleteRun('20250101-000000-aaaa');
    expect((await store.list()).map((r) => r.id)).toEqual(['20250102-000000-bbbb']);
    await expect(store.deleteRun('20250101-000000-aaaa')).rejects.toThrow(
      /no run '20250101-000000-aaaa' in this browser's storage; send 'runs'/,
    );
    await expect(store.readRun('nope')).rejects.toBeInstanceOf(RunStoreError);
    await expect(store.resumeStep('20250102-000000-bbbb')).rejects.toThrow(/no complete checkpoint/);
  });

  it('run ids: made sortable, checked against path tricks', () => {
    expect(newRunId(new Date('2025-03-04T05:06:07.890Z'), () => 0.5)).toBe('20250304-050607-8000');
    expect(checkRunId('20250304-050607-8000')).toBe('20250304-050607-8000');
    for (const bad of ['', '..', '../x', 'a/b', 3]) expect(() => checkRunId(bad)).toThrow(RunStoreError);
  });
});
