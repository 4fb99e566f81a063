// The dataset panel: pick a dataset (folder, files or zip; drops anywhere on the page land here too),
// watch it open, read its validation report (every skipped or repaired row with its reason), settle an
// ambiguous box format, name unrecognised fields or pick a split, and preview usable rows with their
// ground-truth box, one large and a page of them as thumbnails. The built-in synthetic set is the default; a drop that fails keeps what was loaded.

import { type FormEvent, useEffect, useRef, useState } from 'react';
import { BOX_FORMATS, type BoxFormat } from '../data/box-format.ts';
import { inputEntries } from '../data/files/drop-browser.ts';
import type { FieldOverrides } from '../data/sources/json-rows.ts';
import type { FieldMapping, ValidationReport } from '../data/validation-report.ts';
import type { OpenOptions, PreviewRow } from '../grpo/worker/protocol.ts';
import { PreviewGrid } from './PreviewGrid.tsx';
import type { DatasetState, Opening, useDataset } from './useDataset.ts';

const LISTED_ISSUES = 100;

const BOX_FORMAT_LABELS: Record<BoxFormat, string> = {
  xyxy: 'pixels [x1, y1, x2, y2]',
  xywh: 'pixels [x, y, width, height]',
  norm1: '0-1 normalised [x1, y1, x2, y2]',
  norm1000: '0-1000 normalised [x1, y1, x2, y2]',
};

export type DatasetHook = ReturnType<typeof useDataset>;

/** The panel over the app's dataset hook; drops anywhere on the page reach it through the app. */
export function DatasetPanel({ dataset }: { dataset: DatasetHook }) {
  const {
    state,
    opening,
    failure,
    preview,
    open,
    reopen,
    chooseSynthetic,
    showPreview,
    previewRow,
    dismissFailure,
  } = dataset;
  const folderInput = useRef<HTMLInputElement>(null);
  const filesInput = useRef<HTMLInputElement>(null);

  useEffect(() => {
    // Folder pickers need the non-standard attribute, which React does not pass through by name.
    folderInput.current?.setAttribute('webkitdirectory', '');
  }, []);

  return (
    <section className="panel dataset-panel" data-testid="dataset-panel">
      <h2>Dataset</h2>
      <p className="muted">
        Drop a grounding dataset anywhere on the page: an HF <code>save_to_disk</code> folder, Parquet files,
        a JSON / JSONL annotation file with its images, or a zip of any of these.
      </p>
      <div className="dataset-actions">
        <button type="button" onClick={() => folderInput.current?.click()}>
          Choose a folder…
        </button>
        <button type="button" onClick={() => filesInput.current?.click()}>
          Choose files or a zip…
        </button>
        {state.status !== 'synthetic' && (
          <button type="button" onClick={() => chooseSynthetic()} data-testid="use-synthetic">
            Use the built-in synthetic set
          </button>
        )}
        <input
          ref={folderInput}
          type="file"
          hidden
          multiple
          data-testid="dataset-folder-input"
          onChange={(e) => e.target.files && open(inputEntries(e.target.files))}
        />
        <input
          ref={filesInput}
          type="file"
          hidden
          multiple
          accept=".zip,.parquet,.arrow,.json,.jsonl,image/*"
          data-testid="dataset-files-input"
          onChange={(e) => e.target.files && open(inputEntries(e.target.files))}
        />
      </div>
      {opening !== undefined && <OpeningProgress opening={opening} />}
      {failure !== undefined && (
        <>
          <div className="dataset-error" data-testid="dataset-error">
            <strong>{failure.name} could not be read.</strong> {failure.error.message}.{' '}
            {state.status === 'opened'
              ? `${state.name} stays loaded.`
              : 'The built-in synthetic set stays loaded.'}{' '}
            <button type="button" onClick={dismissFailure}>
              Dismiss
            </button>
          </div>
          {failure.error.needs === 'fields' && (
            <FieldNames reopen={reopen} open columns={failure.error.columns ?? []} fields={{}} />
          )}
        </>
      )}
      <DatasetStatus state={state} reopen={reopen} />
      <Preview state={state} preview={preview} showPreview={showPreview} previewRow={previewRow} />
    </section>
  );
}

function OpeningProgress({ opening }: { opening: Opening }) {
  const { name, files, indexed, total } = opening;
  return (
    <p className="muted" data-testid="dataset-opening">
      Reading {name} ({files.toLocaleString('en-US')} files)
      {total !== undefined && indexed !== undefined ? (
        <>
          : {indexed.toLocaleString('en-US')} / {total.toLocaleString('en-US')} rows indexed{' '}
          <progress value={indexed} max={Math.max(1, total)} />
        </>
      ) : (
        '…'
      )}
    </p>
  );
}

function DatasetStatus({ state, reopen }: { state: DatasetState; reopen: (o: OpenOptions) => void }) {
  if (state.status === 'synthetic') {
    return (
      <p data-testid="dataset-synthetic">
        Using the built-in synthetic set: {state.count.toLocaleString('en-US')} grounding tasks (seed{' '}
        {state.seed}).
      </p>
    );
  }
  return (
    <>
      {state.remembered && (
        <p className="muted" data-testid="dataset-remembered">
          Read with the field names and box format you chose for rows like these before.
        </p>
      )}
      <Report report={state.report} reopen={reopen} />
      <FieldNames reopen={reopen} open={false} columns={state.report.columns} fields={state.report.fields} />
    </>
  );
}

const FIELD_KINDS = ['image', 'question', 'box'] as const;

/** Names the columns holding the image, question and box when they are not detected (or wrongly). */
function FieldNames({
  reopen,
  open,
  columns,
  fields,
}: {
  reopen: (o: OpenOptions) => void;
  open: boolean;
  columns: readonly string[];
  fields: FieldMapping;
}) {
  const [names, setNames] = useState<Record<(typeof FIELD_KINDS)[number], string>>({
    image: '',
    question: '',
    box: '',
  });
  const apply = (e: FormEvent) => {
    e.preventDefault();
    const chosen: FieldOverrides = {};
    for (const k of FIELD_KINDS) if (names[k].trim() !== '') chosen[k] = names[k].trim();
    reopen({ fields: chosen });
  };
  return (
    <details className="field-names" open={open} data-testid="field-names">
      <summary>Field names</summary>
      <form onSubmit={apply}>
        <p className="muted">
          Name the fields (columns) that hold each part of a row; leave a box empty to detect it. The choice
          is kept for the next dataset with the same fields.
          {columns.length > 0 && <> This one has: {columns.join(', ')}.</>}
        </p>
        <datalist id="dataset-columns">
          {columns.map((c) => (
            <option key={c} value={c} />
          ))}
        </datalist>
        {FIELD_KINDS.map((k) => (
          <label key={k}>
            {k}{' '}
            <input
              type="text"
              list="dataset-columns"
              value={names[k]}
              placeholder={fields[k] ?? ''}
              data-testid={`field-${k}`}
              onChange={(e) => setNames({ ...names, [k]: e.target.value })}
            />
          </label>
        ))}
        <button type="submit" data-testid="field-apply">
          Read again with these fields
        </button>
      </form>
    </details>
  );
}

function Report({ report, reopen }: { report: ValidationReport; reopen: (o: OpenOptions) => void }) {
  const counts = new Map<string, number>();
  for (const i of report.issues) {
    const key = `${i.reason} (${i.action})`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const download = () => {
    const blob = new Blob([JSON.stringify(report, null, 2)], { type: 'application/json' });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = 'validation-report.json';
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  };
  const fields = Object.entries(report.fields).map(([k, v]) => `${k}: ${v}`);
  return (
    <div className="dataset-report" data-testid="dataset-report">
      <dl className="facts">
        <dt>Source</dt>
        <dd data-testid="report-source">
          {report.zip === undefined ? '' : `${report.zip} › `}
          {report.source}
        </dd>
        <dt>Stored as</dt>
        <dd data-testid="report-container">{report.container}</dd>
        <dt>Rows</dt>
        <dd data-testid="report-format">
          {report.format} ({fields.join(', ')})
        </dd>
        <dt>Box format</dt>
        <dd>
          {report.boxFormat === null ? 'ambiguous' : BOX_FORMAT_LABELS[report.boxFormat]} (
          {report.boxFormatSource}: {report.boxFormatReason})
        </dd>
        {report.splits !== undefined && report.splits.length > 1 && (
          <>
            <dt>Split</dt>
            <dd>
              <select
                data-testid="report-split"
                value={report.split}
                onChange={(e) => reopen({ split: e.target.value })}
              >
                {report.splits.map((s) => (
                  <option key={s} value={s}>
                    {s}
                  </option>
                ))}
              </select>
            </dd>
          </>
        )}
      </dl>
      {report.ambiguity !== undefined && (
        <div className="dataset-error" data-testid="report-ambiguity">
          <p>
            <strong>The box format cannot be told from the boxes:</strong> {report.ambiguity}. Which is it?
            The choice is kept for the next dataset with the same fields.
          </p>
          <select
            data-testid="report-box-format"
            defaultValue=""
            onChange={(e) =>
              reopen({
                boxFormat: e.target.value as BoxFormat,
                ...(report.split ? { split: report.split } : {}),
              })
            }
          >
            <option value="" disabled>
              Choose the box format…
            </option>
            {BOX_FORMATS.map((f) => (
              <option key={f} value={f}>
                {BOX_FORMAT_LABELS[f]}
              </option>
            ))}
          </select>
        </div>
      )}
      <p className="dataset-counts" data-testid="report-counts">
        <strong>{report.rows.toLocaleString('en-US')}</strong> rows read,{' '}
        <strong>{report.usable.toLocaleString('en-US')}</strong> usable
        {report.repaired > 0 && <>, {report.repaired.toLocaleString('en-US')} of them repaired</>}.
      </p>
      {report.issues.length > 0 && (
        <>
          <ul className="issue-counts" data-testid="report-issue-counts">
            {[...counts].map(([k, n]) => (
              <li key={k}>
                {n.toLocaleString('en-US')} × {k}
              </li>
            ))}
          </ul>
          <table className="issues" data-testid="report-issues">
            <thead>
              <tr>
                <th>Row</th>
                <th>Reason</th>
                <th>Action</th>
                <th>Detail</th>
              </tr>
            </thead>
            <tbody>
              {report.issues.slice(0, LISTED_ISSUES).map((i) => (
                <tr key={`${i.row}-${i.reason}`}>
                  <td>{i.line === undefined ? i.row : `${i.row} (line ${i.line})`}</td>
                  <td>{i.reason}</td>
                  <td>{i.action}</td>
                  <td>{i.detail}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {report.issues.length > LISTED_ISSUES && (
            <p className="muted">
              … and {(report.issues.length - LISTED_ISSUES).toLocaleString('en-US')} more in the full report.
            </p>
          )}
        </>
      )}
      <button type="button" onClick={download}>
        Download the full report (JSON)
      </button>
    </div>
  );
}

function Preview({
  state,
  preview,
  showPreview,
  previewRow,
}: {
  state: DatasetState;
  preview: PreviewRow | { error: string } | undefined;
  showPreview: (index: number) => void;
  previewRow: (index: number) => Promise<PreviewRow | { error: string }>;
}) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const row = preview !== undefined && 'pixels' in preview ? preview : undefined;
  useEffect(() => {
    const c = canvas.current;
    if (c === null || row === undefined) return;
    c.width = row.width;
    c.height = row.height;
    const ctx = c.getContext('2d');
    if (ctx === null) return;
    ctx.putImageData(new ImageData(row.pixels, row.width, row.height), 0, 0);
    const [x1, y1, x2, y2] = row.box;
    ctx.strokeStyle = '#00e676';
    ctx.lineWidth = Math.max(1, Math.round(Math.max(row.width, row.height) / 200));
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
  }, [row]);
  const total =
    state.status === 'synthetic' ? state.count : state.status === 'opened' ? state.report.usable : 0;
  if (total === 0) return null;
  if (preview === undefined) {
    return (
      <button type="button" onClick={() => showPreview(0)} data-testid="preview-show">
        Preview the rows
      </button>
    );
  }
  if ('error' in preview) {
    return (
      <p className="dataset-error" data-testid="preview-error">
        This row's image cannot be shown: {preview.error}
      </p>
    );
  }
  const index = preview.index;
  return (
    <>
      <figure className="dataset-preview" data-testid="dataset-preview">
        <canvas ref={canvas} data-testid="preview-canvas" />
        <figcaption>
          <span data-testid="preview-question">{preview.question}</span>
          <span className="muted">
            {' '}
            ({preview.rowId}, {preview.width}×{preview.height}, box [
            {preview.box.map((v) => +v.toFixed(1)).join(', ')}])
          </span>
          <span className="preview-nav">
            <button type="button" disabled={index === 0} onClick={() => showPreview(index - 1)}>
              ‹ Previous
            </button>
            <span data-testid="preview-position">
              {index + 1} / {total.toLocaleString('en-US')}
            </span>
            <button type="button" disabled={index + 1 >= total} onClick={() => showPreview(index + 1)}>
              Next ›
            </button>
          </span>
        </figcaption>
      </figure>
      <PreviewGrid
        dataset={state}
        total={total}
        index={index}
        previewRow={previewRow}
        showPreview={showPreview}
      />
    </>
  );
}
