// `vgrpo inspect-dataset`: opens a grounding dataset in any supported form (HF save_to_disk folder,
// Parquet, JSON / JSONL with images, a zip of these) and prints its validation report: format, rows
// read, usable rows, every issue.

import { BOX_FORMATS, type BoxFormat } from '../data/box-format.ts';
import { DatasetFormatError } from '../data/errors.ts';
import { openDatasetAt } from '../data/open-dataset-node.ts';
import type { FieldOverrides } from '../data/sources/json-rows.ts';
import { formatReport } from '../data/validation-report.ts';
import { CliError, type FlagSpec, type FlagValues, runSubcommand } from './command.ts';

export const INSPECT_DATASET_USAGE = `Usage: vgrpo inspect-dataset PATH [options]
  PATH                 an HF save_to_disk folder (DatasetDict or one split), a .parquet file or a
                       folder of them, a .json / .jsonl annotation file or a folder holding one plus
                       its images, or a .zip of any of these
  --json               print the report as JSON ({format, rows, usable, issues: [{row, reason}], fields, ...})
  --box-format F       xyxy | xywh (pixels) | norm1 | norm1000; needed when detection is ambiguous
  --image-field F      the row field holding the image path
  --question-field F   the row field holding the question
  --box-field F        the row field holding the box(es)
  --width-field F      the row field holding the image width
  --height-field F     the row field holding the image height
  --split S            the split to read (DatasetDict folders, hub Parquet layouts); default train
  --decode             decode every image (reports undecodable ones and checks width/height)
Exit code: 0 when the report was printed, 1 when the dataset cannot be read or its box format is
ambiguous, 2 for a usage error.
`;

const FLAGS: FlagSpec = {
  json: { type: 'boolean' },
  'box-format': { type: 'string' },
  'image-field': { type: 'string' },
  'question-field': { type: 'string' },
  'box-field': { type: 'string' },
  'width-field': { type: 'string' },
  'height-field': { type: 'string' },
  split: { type: 'string' },
  decode: { type: 'boolean' },
};

/** Runs `vgrpo inspect-dataset ARGS`; returns the exit code. */
export function inspectDatasetCommand(args: string[]): Promise<number> {
  const positional = args.filter((a, i) => !a.startsWith('-') && !isFlagValue(args, i));
  const flags = args.filter((a, i) => a.startsWith('-') || isFlagValue(args, i));
  return runSubcommand('inspect-dataset', INSPECT_DATASET_USAGE, flags, FLAGS, (values) =>
    run(positional, values),
  );
}

function isFlagValue(args: string[], i: number): boolean {
  const prev = args[i - 1];
  if (prev === undefined || !prev.startsWith('--') || prev.includes('=')) return false;
  return FLAGS[prev.slice(2)]?.type === 'string';
}

async function run(positional: string[], values: FlagValues): Promise<number> {
  if (positional.length !== 1) {
    throw new CliError(`give exactly one PATH (got ${positional.length})`, 2);
  }
  const str = (k: string) => values[k] as string | undefined;
  const boxFormat = str('box-format');
  if (boxFormat !== undefined && !BOX_FORMATS.includes(boxFormat as BoxFormat)) {
    throw new CliError(`--box-format must be one of ${BOX_FORMATS.join(', ')} (got '${boxFormat}')`, 2);
  }
  const fields: FieldOverrides = {};
  for (const k of ['image', 'question', 'box', 'width', 'height'] as const) {
    const v = str(`${k}-field`);
    if (v !== undefined) fields[k] = v;
  }
  try {
    const split = str('split');
    const dataset = await openDatasetAt(positional[0] as string, {
      fields,
      ...(split === undefined ? {} : { split }),
      ...(boxFormat === undefined ? {} : { boxFormat: boxFormat as BoxFormat }),
      checkImages: values.decode === true,
    });
    const { report } = dataset;
    process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
    if (report.ambiguity) {
      process.stderr.write(`vgrpo inspect-dataset: ${report.ambiguity}\n`);
      return 1;
    }
    return 0;
  } catch (e) {
    if (e instanceof DatasetFormatError) throw new CliError(e.message, 1);
    throw e;
  }
}
