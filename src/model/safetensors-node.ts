// Node-only: write a safetensors file to disk.
import { writeFile } from 'node:fs/promises';
import { type TensorToWrite, writeSafetensors } from './safetensors-write.ts';

export async function writeSafetensorsFile(
  path: string,
  tensors: readonly TensorToWrite[],
  metadata?: Record<string, string>,
): Promise<void> {
  await writeFile(path, writeSafetensors(tensors, metadata));
}
