// The canonical grounding row every data source produces (JSON / JSONL, Arrow, Parquet, synthetic):
// one image, one question, one ground-truth box in absolute pixels of the original image.

import type { RgbImage } from '../model/image-processor.ts';
import type { Box } from './box-format.ts';

export type { Box };

export interface GroundingRow {
  /** Unique within its dataset. */
  id: string;
  /** The original image's size in pixels (known without decoding it). */
  width: number;
  height: number;
  question: string;
  box: Box;
  /** A reference answer in the product's format, when the source has one (SFT warm-up). */
  answer?: string;
  /** Decodes (or generates) the image on demand, so large sets are not held in memory. */
  image(): Promise<RgbImage>;
}
