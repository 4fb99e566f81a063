// A page of the dataset's usable rows as thumbnails, each with its ground-truth box, around the row the
// preview shows; clicking one shows it large. Rows come one request each from the worker; a page that is
// no longer wanted (another page, another dataset) drops its late answers.
import { useEffect, useRef, useState } from 'react';
import type { PreviewRow } from '../grpo/worker/protocol.ts';

export const GRID_ROWS = 12;
const THUMB = 96;

type Thumb = PreviewRow | { error: string };

function drawThumb(c: HTMLCanvasElement, row: PreviewRow): void {
  const scale = THUMB / Math.max(row.width, row.height);
  c.width = Math.max(1, Math.round(row.width * scale));
  c.height = Math.max(1, Math.round(row.height * scale));
  const full = document.createElement('canvas');
  full.width = row.width;
  full.height = row.height;
  full.getContext('2d')?.putImageData(new ImageData(row.pixels, row.width, row.height), 0, 0);
  const ctx = c.getContext('2d');
  if (ctx === null) return;
  ctx.drawImage(full, 0, 0, c.width, c.height);
  const [x1, y1, x2, y2] = row.box.map((v) => v * scale) as [number, number, number, number];
  ctx.lineWidth = 3;
  ctx.strokeStyle = '#000';
  ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
  ctx.lineWidth = 1.5;
  ctx.strokeStyle = '#00e676';
  ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
}

function ThumbItem({ thumb, active, onPick }: { thumb: Thumb; active: boolean; onPick: () => void }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    if (canvas.current && 'pixels' in thumb) drawThumb(canvas.current, thumb);
  }, [thumb]);
  if ('error' in thumb)
    return (
      <li className="preview-thumb broken" data-testid="preview-thumb" title={thumb.error}>
        image unreadable
      </li>
    );
  return (
    <li className={`preview-thumb${active ? ' active' : ''}`} data-testid="preview-thumb">
      <button
        type="button"
        className="thumb-pick"
        onClick={onPick}
        title={thumb.question}
        aria-pressed={active}
      >
        <canvas ref={canvas} />
      </button>
    </li>
  );
}

export function PreviewGrid(props: {
  /** Changes whenever another dataset is loaded. */
  dataset: unknown;
  total: number;
  index: number;
  previewRow: (index: number) => Promise<Thumb>;
  showPreview: (index: number) => void;
}) {
  const { dataset, total, index, previewRow, showPreview } = props;
  const start = Math.floor(index / GRID_ROWS) * GRID_ROWS;
  const [page, setPage] = useState<{ start: number; dataset: unknown; thumbs: (Thumb | undefined)[] }>();
  useEffect(() => {
    let wanted = true;
    const count = Math.min(GRID_ROWS, total - start);
    setPage({ start, dataset, thumbs: new Array(count).fill(undefined) });
    for (let i = 0; i < count; i++) {
      void previewRow(start + i).then((thumb) => {
        if (!wanted) return;
        setPage((p) => {
          if (!p) return p;
          const thumbs = [...p.thumbs];
          thumbs[i] = thumb;
          return { ...p, thumbs };
        });
      });
    }
    return () => {
      wanted = false;
    };
  }, [dataset, start, total, previewRow]);
  if (!page || page.start !== start || page.dataset !== dataset) return null;
  return (
    <ul
      className="preview-grid"
      data-testid="preview-grid"
      aria-label={`rows ${start + 1} to ${start + page.thumbs.length}`}
    >
      {page.thumbs.map((thumb, i) =>
        thumb === undefined ? (
          // biome-ignore lint/suspicious/noArrayIndexKey: a page's slots are fixed positions
          <li key={i} className="preview-thumb loading" />
        ) : (
          <ThumbItem
            // biome-ignore lint/suspicious/noArrayIndexKey: a page's slots are fixed positions
            key={i}
            thumb={thumb}
            active={start + i === index}
            onPick={() => showPreview(start + i)}
          />
        ),
      )}
    </ul>
  );
}
