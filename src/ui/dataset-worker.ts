// The dataset worker: opens what the person dropped (or the built-in synthetic set) off the main
// thread, keeps the rows, and decodes one row's image at a time for the preview.

import { toGroundingRows } from '../data/dataset.ts';
import { droppedFileFromFile } from '../data/files.ts';
import { decodeImageBrowser } from '../data/image-decode-browser.ts';
import { openDataset } from '../data/open-dataset.ts';
import type { GroundingRow } from '../data/row.ts';
import { syntheticDataset } from '../data/synthetic.ts';
import type { DatasetRequest, DatasetResponse } from './dataset-protocol.ts';

let rows: GroundingRow[] = [];

function post(message: DatasetResponse, transfer: Transferable[] = []): void {
  (self as unknown as Worker).postMessage(message, transfer);
}

async function handle(req: DatasetRequest): Promise<void> {
  switch (req.type) {
    case 'open': {
      const files = req.entries.map((e) => droppedFileFromFile(e.file, e.path));
      const dataset = await openDataset(files, { ...req.options, decode: decodeImageBrowser });
      rows = toGroundingRows(dataset);
      post({ type: 'opened', id: req.id, report: dataset.report });
      return;
    }
    case 'synthetic':
      rows = syntheticDataset(req.seed, req.count);
      post({ type: 'synthetic', id: req.id, count: req.count, seed: req.seed });
      return;
    case 'preview': {
      const row = rows[req.index];
      if (row === undefined) throw new RangeError(`no usable row ${req.index} (there are ${rows.length})`);
      const image = await row.image();
      const pixels = new Uint8ClampedArray(image.width * image.height * 4);
      pixels.set(image.data);
      post(
        {
          type: 'preview',
          id: req.id,
          row: {
            index: req.index,
            rowId: row.id,
            question: row.question,
            ...(row.answer === undefined ? {} : { answer: row.answer }),
            box: row.box,
            width: image.width,
            height: image.height,
            pixels,
          },
        },
        [pixels.buffer],
      );
      return;
    }
  }
}

self.onmessage = (event: MessageEvent<DatasetRequest>) => {
  const req = event.data;
  handle(req).catch((e: unknown) => {
    const error =
      e instanceof Error ? { name: e.name, message: e.message } : { name: 'Error', message: String(e) };
    post({ type: 'error', id: req.id, error });
  });
};
