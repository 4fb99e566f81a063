// Kernels and the kernel cache. A kernel is one WGSL file from kernels/ (one folder per concern:
// attention/, matmul/, norm/, ...), imported with Vite's `?raw` suffix (served natively by Vite and
// Vitest, and by bin/register.js under Node). The cache compiles one module per (kernel, dtype variant)
// and one pipeline per set of override constants, and turns WGSL compile errors into ShaderCompileError
// with the file's own line numbers.
import { GpuValidationError, ShaderCompileError } from './errors.ts';

export interface Kernel {
  readonly name: string;
  /** Path of the source, as reported in errors. */
  readonly file: string;
  readonly code: string;
}

/** `path` is the file's place under kernels/ without .wgsl ('attention/attention_forward'); the kernel is
 *  named by its last part, as profiles and errors show it. */
export function defineKernel(path: string, code: string): Kernel {
  return { name: path.slice(path.lastIndexOf('/') + 1), file: `kernels/${path}.wgsl`, code };
}

export type Overrides = Record<string, number | boolean>;

export interface Variant {
  /** Weights (the `WT` alias) in f16; needs the shader-f16 feature. */
  f16?: boolean;
  overrides?: Overrides;
}

const DIRECTIVE = /^\s*(enable\s+[\w\s,]+|diagnostic\s*\([\w\s,.]+\))\s*;\s*$/;

/**
 * The source compiled for a variant: the kernel's own `enable` and `diagnostic` directives (blanked in
 * place, so line numbers stay those of the file) and `enable f16;` for the f16 variant go first, then the
 * weight-type alias, then the kernel. Returns the number of lines put in front.
 */
export function variantSource(code: string, f16: boolean): { source: string; headLines: number } {
  const directives = new Set<string>(f16 ? ['enable f16;'] : []);
  const body = code
    .split('\n')
    .map((line) => {
      if (!DIRECTIVE.test(line)) return line;
      directives.add(line.trim());
      return '';
    })
    .join('\n');
  const head = [...directives, `alias WT = ${f16 ? 'f16' : 'f32'};`];
  return { source: `${head.join('\n')}\n${body}`, headLines: head.length };
}

interface ModuleEntry {
  module: GPUShaderModule;
  /** Resolves to the first compile error, or undefined. */
  compiled: Promise<ShaderCompileError | undefined>;
}

export interface CompiledKernel {
  pipeline: GPUComputePipeline;
  kernel: Kernel;
}

export class KernelCache {
  private readonly modules = new Map<string, ModuleEntry>();
  private readonly pipelines = new Map<string, CompiledKernel>();
  private readonly checks = new Map<string, Promise<Error | undefined>>();
  /** Kernel variants known to be broken: using one again throws its error at once. */
  private readonly broken = new Map<string, Error>();

  constructor(
    private readonly device: GPUDevice,
    private readonly hasF16: boolean,
    /** Receives each asynchronous check so the context can surface its error at the next sync point. */
    private readonly track: (check: Promise<Error | undefined>) => void,
  ) {}

  get size(): number {
    return this.pipelines.size;
  }

  /** The pipeline for a kernel and variant, created on first use. Errors surface at the next sync. */
  get(kernel: Kernel, variant: Variant = {}): CompiledKernel {
    const key = pipelineKey(kernel, variant);
    const failed = this.broken.get(key);
    if (failed) throw failed;
    const hit = this.pipelines.get(key);
    if (hit) return hit;
    const f16 = variant.f16 ?? false;
    if (f16 && !this.hasF16) {
      throw new GpuValidationError(
        `${kernel.file}: the f16 variant needs the shader-f16 feature, which this adapter lacks`,
      );
    }
    const mod = this.module(kernel, f16);
    this.device.pushErrorScope('validation');
    const pipeline = this.device.createComputePipeline({
      label: kernel.name,
      layout: 'auto',
      compute: { module: mod.module, entryPoint: 'main', constants: numericOverrides(variant.overrides) },
    });
    const pipelineError = this.device.popErrorScope();
    const check = Promise.all([mod.compiled, pipelineError]).then(([compileError, err]) => {
      const error =
        compileError ??
        (err
          ? new GpuValidationError(`${kernel.file}: pipeline creation failed: ${err.message}`)
          : undefined);
      if (error) this.broken.set(key, error);
      return error;
    });
    this.checks.set(key, check);
    this.track(check);
    const entry = { pipeline, kernel };
    this.pipelines.set(key, entry);
    return entry;
  }

  /** Compiles a kernel variant now and throws its compile error, if any. */
  async compile(kernel: Kernel, variant: Variant = {}): Promise<void> {
    this.get(kernel, variant);
    const err = await this.checks.get(pipelineKey(kernel, variant));
    if (err) throw err;
  }

  private module(kernel: Kernel, f16: boolean): ModuleEntry {
    const key = `${kernel.name}|${f16 ? 'f16' : 'f32'}`;
    const hit = this.modules.get(key);
    if (hit) return hit;
    const { source, headLines } = variantSource(kernel.code, f16);
    const module = this.device.createShaderModule({ label: kernel.file, code: source });
    const compiled = module.getCompilationInfo().then((info) => {
      const first = info.messages.find((m) => m.type === 'error');
      if (!first) return undefined;
      const line = first.lineNum - headLines;
      return new ShaderCompileError(kernel.file, line, first.linePos, first.message);
    });
    const entry = { module, compiled };
    this.modules.set(key, entry);
    return entry;
  }
}

function pipelineKey(kernel: Kernel, variant: Variant): string {
  const o = variant.overrides;
  const ov = o
    ? Object.keys(o)
        .sort()
        .map((k) => `${k}=${o[k]}`)
        .join(',')
    : '';
  return `${kernel.name}|${variant.f16 ? 'f16' : 'f32'}|${ov}`;
}

function numericOverrides(o: Overrides | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(o ?? {})) out[k] = typeof v === 'boolean' ? Number(v) : v;
  return out;
}
