// Every completion of the run in one table (TanStack Table for sorting, TanStack Virtual so that tens of
// thousands of rows scroll smoothly): filter by text, format failures and lowest reward; sort by any
// column header; select a row to read its completion, highlighted, below the table.
import {
  type ColumnDef,
  flexRender,
  getCoreRowModel,
  getSortedRowModel,
  type SortingState,
  useReactTable,
} from '@tanstack/react-table';
import { useVirtualizer } from '@tanstack/react-virtual';
import { useMemo, useRef, useState } from 'react';
import { type RunView, viewConfig } from '../run-store.ts';
import { completionParts } from './completion-parts.ts';
import { filterRows, NO_FILTER, type SampleFilter, type SampleRow, sampleRows } from './sample-rows.ts';

const ROW_HEIGHT = 28;
const num = (v: number | null, digits = 3) => (v === null ? '–' : v.toFixed(digits));

// Unscorable rewards sort below every number.
const nullsLow = (a: number | null, b: number | null) =>
  a === b ? 0 : a === null ? -1 : b === null ? 1 : a - b;

const COLUMNS: ColumnDef<SampleRow>[] = [
  { accessorKey: 'step', header: 'step' },
  { accessorKey: 'id', header: 'row' },
  { accessorKey: 'completion', header: '#' },
  {
    accessorKey: 'reward',
    header: 'reward',
    cell: (c) => num(c.getValue<number | null>()),
    sortingFn: (a, b) => nullsLow(a.original.reward, b.original.reward),
  },
  {
    accessorKey: 'iou',
    header: 'IoU',
    cell: (c) => num(c.getValue<number | null>()),
    sortingFn: (a, b) => nullsLow(a.original.iou, b.original.iou),
  },
  { accessorKey: 'formatFailed', header: 'format', cell: (c) => (c.getValue<boolean>() ? 'fail' : 'ok') },
  { accessorKey: 'advantage', header: 'advantage', cell: (c) => num(c.getValue<number>()) },
  { accessorKey: 'question', header: 'question', enableSorting: false },
];

export function SamplesTable({ run }: { run: RunView }) {
  const [filter, setFilter] = useState<SampleFilter>(NO_FILTER);
  const [minReward, setMinReward] = useState('');
  const [sorting, setSorting] = useState<SortingState>([]);
  const [chosen, setChosen] = useState<string | null>(null);
  const all = useMemo(() => sampleRows(run.records), [run.records]);
  const rows = useMemo(() => filterRows(all, filter), [all, filter]);
  const table = useReactTable({
    data: rows,
    columns: COLUMNS,
    state: { sorting },
    onSortingChange: setSorting,
    getCoreRowModel: getCoreRowModel(),
    getSortedRowModel: getSortedRowModel(),
    getRowId: (r) => r.key,
  });
  const sorted = table.getRowModel().rows;
  const scroller = useRef<HTMLDivElement>(null);
  const virtual = useVirtualizer({
    count: sorted.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 12,
  });
  const items = virtual.getVirtualItems();
  const detail = chosen === null ? undefined : all.find((r) => r.key === chosen);
  const prefill = viewConfig(run)?.assistant_prefill ?? '';

  return (
    <div className="samples-table" data-testid="samples-table">
      <h3>
        All samples{' '}
        <span className="muted">
          ({rows.length.toLocaleString('en-US')} of {all.length.toLocaleString('en-US')})
        </span>
      </h3>
      <div className="table-filters">
        <label>
          search{' '}
          <input
            type="search"
            value={filter.search}
            placeholder="question or row id"
            onChange={(e) => setFilter({ ...filter, search: e.target.value })}
            data-testid="samples-search"
          />
        </label>
        <label>
          <input
            type="checkbox"
            checked={filter.formatFailures}
            onChange={(e) => setFilter({ ...filter, formatFailures: e.target.checked })}
            data-testid="samples-format-failures"
          />{' '}
          format failures only
        </label>
        <label>
          reward at least{' '}
          <input
            inputMode="decimal"
            value={minReward}
            size={5}
            aria-invalid={minReward.trim() !== '' && !Number.isFinite(Number(minReward))}
            onChange={(e) => {
              setMinReward(e.target.value);
              const v = Number(e.target.value);
              setFilter({
                ...filter,
                minReward: e.target.value.trim() === '' || !Number.isFinite(v) ? null : v,
              });
            }}
            data-testid="samples-min-reward"
          />
        </label>
      </div>
      <div className="grid-body" ref={scroller}>
        <table className="grid-table">
          <thead>
            {table.getHeaderGroups().map((group) => (
              <tr key={group.id}>
                {group.headers.map((h) => {
                  const dir = h.column.getIsSorted();
                  return (
                    <th
                      key={h.id}
                      scope="col"
                      aria-sort={dir === 'asc' ? 'ascending' : dir === 'desc' ? 'descending' : 'none'}
                    >
                      {h.column.getCanSort() ? (
                        <button
                          type="button"
                          onClick={h.column.getToggleSortingHandler()}
                          data-testid={`sort-${h.id}`}
                        >
                          {flexRender(h.column.columnDef.header, h.getContext())}
                          {dir === 'asc' ? ' ▲' : dir === 'desc' ? ' ▼' : ''}
                        </button>
                      ) : (
                        flexRender(h.column.columnDef.header, h.getContext())
                      )}
                    </th>
                  );
                })}
              </tr>
            ))}
          </thead>
          <tbody>
            {/* Only the rows in view are in the page; spacers keep the scroll height. */}
            {items.length > 0 && <tr style={{ height: items[0]!.start }} />}
            {items.map((item) => {
              const row = sorted[item.index]!;
              return (
                <tr
                  key={row.id}
                  className={row.id === chosen ? 'selected' : undefined}
                  style={{ height: ROW_HEIGHT }}
                  onClick={() => setChosen(row.id)}
                  data-testid="sample-row"
                >
                  {row.getVisibleCells().map((cell, i) => (
                    <td key={cell.id}>
                      {i === 0 ? (
                        <button type="button" className="row-pick" onClick={() => setChosen(row.id)}>
                          {flexRender(cell.column.columnDef.cell, cell.getContext())}
                        </button>
                      ) : (
                        flexRender(cell.column.columnDef.cell, cell.getContext())
                      )}
                    </td>
                  ))}
                </tr>
              );
            })}
            {items.length > 0 && (
              <tr style={{ height: virtual.getTotalSize() - items[items.length - 1]!.end }} />
            )}
          </tbody>
        </table>
      </div>
      {detail && (
        <p className="completion-text sample-detail" data-testid="sample-detail">
          step {detail.step}, {detail.id}, completion {detail.completion}:{' '}
          {completionParts(detail.text, prefill).map((p, i) => (
            // biome-ignore lint/suspicious/noArrayIndexKey: parts of a fixed text
            <span key={i} className={`part-${p.kind}`}>
              {p.text}
            </span>
          ))}
          {detail.parseError && <span className="parse-error"> ({detail.parseError})</span>}
        </p>
      )}
    </div>
  );
}
