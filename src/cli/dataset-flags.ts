// The dataset flags `vgrpo inspect-dataset`, `train`, `sft` and `eval` share (split, box format, field
// names), read into the options the data code takes, and its errors put in terms of those flags.

import { BOX_FORMATS, type BoxFormat } from '../data/box-format.ts';
import type { DatasetFormatError } from '../data/errors.ts';
import type { OpenDatasetOptions } from '../data/open-dataset.ts';
import type { FieldOverrides } from '../data/sources/json-rows.ts';
import type { ValidationReport } from '../data/validation-report.ts';
import { CliError, type FlagSpec, type FlagValues } from './command.ts';

const FIELD_KINDS = ['image', 'question', 'box', 'width', 'height'] as const;

export const DATASET_FLAGS: FlagSpec = {
  split: { type: 'string' },
  'box-format': { type: 'string' },
  ...Object.fromEntries(FIELD_KINDS.map((k) => [`${k}-field`, { type: 'string' }])),
};

export const DATASET_USAGE = `  --split S             the split to read (DatasetDict folders, hub Parquet layouts); default train
  --box-format F        xyxy | xywh (pixels) | norm1 | norm1000, when the dataset's cannot be detected
  --image-field F       the row field holding the image path
  --question-field F    the row field holding the question
  --box-field F         the row field holding the box(es)
  --width-field F       the row field holding the image width
  --height-field F      the row field holding the image height
`;

/** The open options the dataset flags give (a bad --box-format is a usage error). */
export function datasetOptions(
  values: FlagValues,
): Pick<OpenDatasetOptions, 'split' | 'boxFormat' | 'fields'> {
  const str = (k: string) => values[k] as string | undefined;
  const boxFormat = str('box-format');
  if (boxFormat !== undefined && !BOX_FORMATS.includes(boxFormat as BoxFormat)) {
    throw new CliError(`--box-format must be one of ${BOX_FORMATS.join(', ')} (got '${boxFormat}')`, 2);
  }
  const fields: FieldOverrides = {};
  for (const k of FIELD_KINDS) {
    const v = str(`${k}-field`);
    if (v !== undefined) fields[k] = v;
  }
  const split = str('split');
  return {
    fields,
    ...(split === undefined ? {} : { split }),
    ...(boxFormat === undefined ? {} : { boxFormat: boxFormat as BoxFormat }),
  };
}

/** A data error as a CLI error, naming the flags that fix it. */
export function datasetCliError(e: DatasetFormatError): CliError {
  const fix = e.needs === 'fields' ? ' with --image-field, --question-field and --box-field' : '';
  return new CliError(`${e.message}${fix}`);
}

/** The report's box-format ambiguity, naming the flag that settles it; undefined when there is none. */
export function ambiguityMessage(report: ValidationReport): string | undefined {
  return report.ambiguity === undefined ? undefined : `${report.ambiguity}: give it with --box-format`;
}
