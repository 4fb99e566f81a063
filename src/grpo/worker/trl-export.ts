// The worker's side of "Export as a TRL job": the settings a start would use (preset and form), the
// model's prompt side and box space, and the rows a start would train on, written as a TRL job's files
// (src/grpo/trl/job.ts). nano ships inside the job; a dropped folder is named for train.py to load.
import type { GroundingRow } from '../../data/row.ts';
import { filesOpener } from '../../model/byte-source.ts';
import { resolveConfig } from '../config.ts';
import { type ModelKind, resolveBoxSpace } from '../rewards/box-space.ts';
import { rewardNames } from '../rewards/rewards.ts';
import { writeTrlJob } from '../trl/job.ts';
import { loadPromptModelFrom, NANO_FILES } from './model.ts';
import type { TrlExportRequest } from './protocol.ts';

/** The job's files (paths in the project folder) and the folder's name. */
export async function trlJobFiles(
  req: TrlExportRequest,
  deps: {
    modelFiles: () => Promise<File[]>;
    rows: () => Promise<{ name: string; rows: readonly GroundingRow[] }>;
    warn: (message: string) => void;
  },
): Promise<{ name: string; files: Map<string, Uint8Array> }> {
  const config = resolveConfig(req.config, {
    ...(req.preset === undefined ? {} : { preset: req.preset }),
    knownRewards: rewardNames(),
    onWarning: deps.warn,
  });
  const files = await deps.modelFiles();
  const prompt = await loadPromptModelFrom(filesOpener(files));
  const nano = req.model.kind === 'nano';
  const kind: ModelKind = nano ? 'nano' : prompt.model.config.modelType;
  const folder = files.map((f) => f.webkitRelativePath.split('/')[0]).find((t) => t);
  const model = nano ? 'model' : (req.modelName ?? folder ?? prompt.model.config.modelType);
  const dataset = await deps.rows();
  const out = new Map<string, Uint8Array>();
  const text = new TextEncoder();
  await writeTrlJob(
    {
      config,
      model,
      space: resolveBoxSpace(config.box_space, kind, prompt.boxSpace),
      processor: prompt.model.imageOptions,
      rows: dataset.rows,
      dataset: dataset.name,
      ...(nano
        ? {
            modelFiles: await Promise.all(
              files
                .filter((f) => (NANO_FILES as readonly string[]).includes(f.name))
                .map(async (f) => ({ name: f.name, bytes: new Uint8Array(await f.arrayBuffer()) })),
            ),
          }
        : {}),
    },
    async (path, contents) => {
      out.set(path, typeof contents === 'string' ? text.encode(contents) : contents);
    },
  );
  const data = dataset.name.replace(/\.(zip|jsonl?|parquet|arrow)$/i, '').replace(/[^\w.-]+/g, '-');
  return { name: `trl-${nano ? 'nano' : (folder ?? kind)}-${data}`, files: out };
}
