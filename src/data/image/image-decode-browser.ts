// Browser image decoding to 8-bit RGBA, in a page or a Web Worker (no `document`). Same contract as
// the Node decoder: JPEG through our own decoder (the same pixels as Node and Pillow, shown upright by
// its EXIF orientation), PNG and WebP through the browser's (createImageBitmap) with stored, not
// premultiplied, values; the header's (displayed) size; ImageDecodeError for files a person can fix.

import type { RgbImage } from '../../model/image-processor.ts';
import { ImageDecodeError } from '../errors.ts';
import { decodeJpegImage } from './decoded-image.ts';
import { decodableHeader } from './image-header.ts';

/**
 * Decodes PNG, JPEG or WebP bytes into an RGBA image (4 bytes a pixel, row-major). `name` is used in
 * error messages. Throws ImageDecodeError ('unsupported' for other formats, 'corrupt' for bad data).
 */
export async function decodeImageBrowser(bytes: Uint8Array, name: string): Promise<RgbImage> {
  const header = decodableHeader(bytes, name);
  if (header.format === 'jpeg') return decodeJpegImage(bytes, header, name);
  const label = header.format.toUpperCase();

  let bitmap: ImageBitmap;
  try {
    // A Blob takes no views of shared memory: copy those.
    const own = (bytes.buffer instanceof ArrayBuffer ? bytes : bytes.slice()) as Uint8Array<ArrayBuffer>;
    bitmap = await createImageBitmap(new Blob([own]), {
      colorSpaceConversion: 'none',
      premultiplyAlpha: 'none',
      // Chromium 156 applies EXIF orientation for 'none' too: a rotated PNG / WebP is refused below.
      imageOrientation: 'from-image',
    });
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new ImageDecodeError(
      name,
      'corrupt',
      `the browser cannot decode this ${label} file (${why}); the file may be truncated or damaged`,
    );
  }
  try {
    if (bitmap.width !== header.width || bitmap.height !== header.height) {
      const rotated = bitmap.width === header.height && bitmap.height === header.width;
      if (!rotated) {
        throw new ImageDecodeError(
          name,
          'corrupt',
          `decoding gave a ${bitmap.width}x${bitmap.height} image but the header says ${header.width}x${header.height}`,
        );
      }
      // Refused rather than accepted, so that Node and the browser give the same image.
      throw new ImageDecodeError(
        name,
        'unsupported',
        `the browser rotated this ${header.width}x${header.height} ${label} by an EXIF orientation, which is only applied to JPEGs here (the Node decoder ignores it in ${label}); save it upright without the orientation tag`,
      );
    }
    return { width: header.width, height: header.height, data: readPixels(bitmap) };
  } finally {
    bitmap.close();
  }
}

/** The bitmap's RGBA bytes, not premultiplied: through WebGL when there is one, else a 2D canvas. */
function readPixels(bitmap: ImageBitmap): Uint8Array {
  return readPixelsWebgl(bitmap) ?? readPixels2d(bitmap);
}

// One WebGL context per page or worker, made on first use (browsers cap live contexts).
let glContext: WebGL2RenderingContext | null | undefined;

function webgl(): WebGL2RenderingContext | undefined {
  if (glContext?.isContextLost()) glContext = undefined;
  if (glContext === undefined) {
    const canvas = new OffscreenCanvas(1, 1);
    glContext = canvas.getContext('webgl2', { antialias: false, depth: false, stencil: false }) ?? null;
  }
  return glContext ?? undefined;
}

/**
 * WebGL keeps the stored values of pixels with alpha < 255; a 2D canvas keeps premultiplied colour
 * and so rounds them (and zeroes the colour of transparent pixels). Undefined when WebGL is missing.
 */
function readPixelsWebgl(bitmap: ImageBitmap): Uint8Array | undefined {
  const gl = webgl();
  if (!gl) return undefined;
  const { width, height } = bitmap;
  const maxSize = gl.getParameter(gl.MAX_TEXTURE_SIZE) as number;
  if (width > maxSize || height > maxSize) return undefined;
  const texture = gl.createTexture();
  const framebuffer = gl.createFramebuffer();
  try {
    gl.bindTexture(gl.TEXTURE_2D, texture);
    gl.pixelStorei(gl.UNPACK_PREMULTIPLY_ALPHA_WEBGL, false);
    gl.pixelStorei(gl.UNPACK_FLIP_Y_WEBGL, false);
    gl.pixelStorei(gl.UNPACK_COLORSPACE_CONVERSION_WEBGL, gl.NONE);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, width, height, 0, gl.RGBA, gl.UNSIGNED_BYTE, bitmap);
    gl.bindFramebuffer(gl.FRAMEBUFFER, framebuffer);
    gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, texture, 0);
    if (gl.checkFramebufferStatus(gl.FRAMEBUFFER) !== gl.FRAMEBUFFER_COMPLETE) return undefined;
    // Texture row 0 is framebuffer row 0 and readPixels starts there: rows come out top first.
    const data = new Uint8Array(width * height * 4);
    gl.pixelStorei(gl.PACK_ALIGNMENT, 1);
    gl.readPixels(0, 0, width, height, gl.RGBA, gl.UNSIGNED_BYTE, data);
    return gl.getError() === gl.NO_ERROR ? data : undefined;
  } finally {
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    gl.deleteFramebuffer(framebuffer);
    gl.deleteTexture(texture);
  }
}

/** For tests: which path readPixels takes here. */
export function browserPixelPath(): 'webgl' | '2d' {
  return webgl() ? 'webgl' : '2d';
}

function readPixels2d(bitmap: ImageBitmap): Uint8Array {
  const { width, height } = bitmap;
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new Error('no 2D canvas context (OffscreenCanvas) in this browser');
  ctx.drawImage(bitmap, 0, 0);
  const data = ctx.getImageData(0, 0, width, height).data;
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
