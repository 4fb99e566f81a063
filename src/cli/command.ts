// Scaffolding shared by the vgrpo subcommands: flag parsing (usage errors exit 2 with the usage text),
// --help, and turning the errors a person can cause (CliError and the typed model / data errors) into a
// one-line message and exit code 1.
import { parseArgs } from 'node:util';
import { DataOptionsError, DatasetFormatError, ImageDecodeError } from '../data/errors.ts';
import {
  ChatTemplateError,
  CheckpointError,
  ConfigError,
  DecoderInputError,
  ImageProcessorError,
  LoraError,
  RopeIndexError,
  SafetensorsError,
  TensorMismatchError,
  TokenizerFileError,
  UnsupportedTokenizerError,
  VisionInputError,
} from '../model/errors.ts';

export type FlagSpec = Record<string, { type: 'string' | 'boolean'; short?: string }>;
export type FlagValues = Record<string, string | boolean | undefined>;

export async function runSubcommand(
  name: string,
  usage: string,
  args: string[],
  flags: FlagSpec,
  run: (values: FlagValues) => Promise<number>,
): Promise<number> {
  try {
    let values: FlagValues;
    try {
      values = parseArgs({
        args,
        strict: true,
        allowPositionals: false,
        options: { ...flags, help: { type: 'boolean', short: 'h' } },
      }).values;
    } catch (e) {
      throw new CliError((e as Error).message, 2);
    }
    if (values.help) {
      process.stdout.write(usage);
      return 0;
    }
    return await run(values);
  } catch (e) {
    if (isUserError(e)) {
      process.stderr.write(`vgrpo ${name}: ${e.message}\n`);
      if (e instanceof CliError && e.exitCode === 2) process.stderr.write(`\n${usage}`);
      return e instanceof CliError ? e.exitCode : 1;
    }
    throw e;
  }
}

/** A problem with a command's arguments or files; printed as is, exit code 1 (2 for usage). */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** Whether `e` is an error a person caused (bad file, argument, checkpoint): print it, exit 1 or 2. */
export function isUserError(e: unknown): e is Error {
  return (
    e instanceof CliError ||
    e instanceof ImageDecodeError ||
    e instanceof DataOptionsError ||
    e instanceof DatasetFormatError ||
    e instanceof ImageProcessorError ||
    e instanceof LoraError ||
    e instanceof ConfigError ||
    e instanceof TokenizerFileError ||
    e instanceof UnsupportedTokenizerError ||
    e instanceof ChatTemplateError ||
    e instanceof RopeIndexError ||
    e instanceof CheckpointError ||
    e instanceof SafetensorsError ||
    e instanceof TensorMismatchError ||
    e instanceof DecoderInputError ||
    e instanceof VisionInputError
  );
}
