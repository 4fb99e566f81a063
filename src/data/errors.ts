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
