// `vgrpo inspect-dataset`: opens a grounding dataset in any supported form (HF save_to_disk folder,
// Parquet, JSON / JSONL with images, a zip of these) and prints its validation report: format, rows
// read, usable rows, every issue.

import { DatasetFormatError } from '../data/errors.ts';
import { openDatasetAt } from '../data/open-dataset-node.ts';
import { formatReport } from '../data/validation-report.ts';
import { CliError, type FlagSpec, type FlagValues, runSubcommand } from './command.ts';
import {
  ambiguityMessage,
  DATASET_FLAGS,
  DATASET_USAGE,
  datasetCliError,
  datasetOptions,
} from './dataset-flags.ts';

export const INSPECT_DATASET_USAGE = `Usage: vgrpo inspect-dataset PATH [options]
  PATH                 an HF save_to_disk folder (DatasetDict or one split), a .parquet file or a
                       folder of them, a .json / .jsonl annotation file or a folder holding one plus
                       its images, or a .zip of any of these
  --json               print the report as JSON ({format, rows, usable, issues: [{row, reason}], fields, ...})
${DATASET_USAGE}  --decode             decode every image (reports undecodable ones and checks width/height)
Exit code: 0 when the report was printed, 1 when the dataset cannot be read or its box format is
ambiguous, 2 for a usage error.
`;

const FLAGS: FlagSpec = {
  json: { type: 'boolean' },
  ...DATASET_FLAGS,
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
  const options = datasetOptions(values);
  try {
    const dataset = await openDatasetAt(positional[0] as string, {
      ...options,
      checkImages: values.decode === true,
    });
    const { report } = dataset;
    process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
    const ambiguity = ambiguityMessage(report);
    if (ambiguity !== undefined) {
      process.stderr.write(`vgrpo inspect-dataset: ${ambiguity}\n`);
      return 1;
    }
    return 0;
  } catch (e) {
    if (e instanceof DatasetFormatError) throw datasetCliError(e);
    throw e;
  }
}
