// Runs the real `vgrpo` binary (bin/vgrpo.js) in a child process for the CLI tests: exit code and
// both output streams, whether it succeeded or not.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = new URL('../../', import.meta.url).pathname;

export interface VgrpoResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `vgrpo ARGS` from the repo root, with `env` added to this process's environment. */
export async function vgrpo(args: string[], env: Record<string, string> = {}): Promise<VgrpoResult> {
  try {
    const r = await run(process.execPath, ['bin/vgrpo.js', ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      maxBuffer: 64 << 20,
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}
