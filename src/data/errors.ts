// Typed errors of the data code: the ones a person can cause (a wrong or corrupt file). Each message
// says what is wrong and what to do; callers catch them by class.

/** An image file that cannot be decoded: not PNG or JPEG, or corrupt / truncated. */
export class ImageDecodeError extends Error {
  override name = 'ImageDecodeError';
  constructor(
    /** The file (or source) name the bytes came from. */
    readonly file: string,
    readonly problem: 'unsupported' | 'corrupt',
    detail: string,
  ) {
    super(`${file}: ${detail}`);
  }
}

/** Invalid options for a data tool: synthetic generator knobs, a split fraction, sampler settings. */
export class DataOptionsError extends Error {
  override name = 'DataOptionsError';
}

/**
 * A dataset that cannot be read as a whole: no annotation file found, not JSON / JSONL, rows whose
 * fields cannot be recognised. Problems of single rows are never thrown: they go in the report.
 */
export class DatasetFormatError extends Error {
  override name = 'DatasetFormatError';
  /** 'fields': the rows' fields were not recognised; naming them (CLI flags, the app's form) can fix it. */
  readonly needs?: 'fields';
  /** The row fields (columns) seen, when `needs` is 'fields'. */
  readonly columns?: string[];
  constructor(
    /** The file or folder the problem is in. */
    readonly source: string,
    detail: string,
    remedy?: { needs: 'fields'; columns: string[] },
  ) {
    super(`${source}: ${detail}`);
    if (remedy !== undefined) {
      this.needs = remedy.needs;
      this.columns = remedy.columns;
    }
  }
}
