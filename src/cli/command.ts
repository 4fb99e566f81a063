// Scaffolding shared by the vgrpo subcommands: flag parsing (usage errors exit 2 with the usage text),
// --help, and turning the errors a person can cause into a one-line message and exit code 1.
import { parseArgs } from 'node:util';
import { CliError, isUserError } from './model-input.ts';

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
