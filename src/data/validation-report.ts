// The validation report every dataset source produces: rows read, rows usable, and each skipped,
// repaired or noted row with its reason; plus its readable text form (used by `vgrpo inspect-dataset`).

import type { BoxFormat } from './box-format.ts';

export type IssueReason =
  | 'bad-json'
  | 'not-an-object'
  | 'missing-image'
  | 'undecodable-image'
  | 'image-size-mismatch'
  | 'unknown-image-size'
  | 'missing-question'
  | 'missing-box'
  | 'non-numeric-box'
  | 'degenerate-box'
  | 'box-outside-image'
  | 'box-clamped'
  | 'multiple-boxes';

/** skipped: the row is not usable; repaired: usable after a fix (clamping); kept: usable, noted. */
export type IssueAction = 'skipped' | 'repaired' | 'kept';

export interface RowIssue {
  /** 0-based index of the row in the file (JSONL: of the non-empty line). */
  row: number;
  reason: IssueReason;
  action: IssueAction;
  detail: string;
  /** 1-based line in a JSONL file. */
  line?: number;
}

/** Which field of a row holds what ('conversations' for VLM-R1 REC's question and answer). */
export interface FieldMapping {
  image?: string;
  question?: string;
  box?: string;
  width?: string;
  height?: string;
}

export interface ValidationReport {
  /** The annotation file the rows came from (path within the dropped set). */
  source: string;
  /** How the rows are stored. */
  container: 'json' | 'jsonl' | 'hf-arrow' | 'parquet';
  /** The zip the source was found in, when one was dropped. */
  zip?: string;
  /** For sources with splits (HF DatasetDict folders, hub Parquet layouts): all of them, and the one read. */
  splits?: string[];
  split?: string;
  /** Row format: 'visual-cot' (the tutorial's rows), 'vlm-r1-rec', 'r1v' ({image, problem, solution}), 'coco-xywh', 'custom'. */
  format: string;
  /** The row fields (columns) seen, sorted: they identify the layout, for choices remembered per layout. */
  columns: string[];
  rows: number;
  usable: number;
  /** Rows made usable by a repair (clamped boxes). */
  repaired: number;
  issues: RowIssue[];
  fields: FieldMapping;
  /** The box format used; null when it could not be decided (see `ambiguity`). */
  boxFormat: BoxFormat | null;
  boxFormatSource: 'override' | 'detected';
  boxFormatReason: string;
  /** Set when the box format is ambiguous: no row is usable until an explicit format is given. */
  ambiguity?: string;
}

/** A readable summary: counts, counts by reason, then up to `maxListed` issues. */
export function formatReport(report: ValidationReport, maxListed = 50): string {
  const lines = [
    `source:     ${report.zip === undefined ? '' : `${report.zip}: `}${report.source}`,
    `container:  ${report.container}${report.split === undefined ? '' : `, split ${report.split} of ${(report.splits ?? [report.split]).join(', ')}`}`,
    `format:     ${report.format}`,
    `fields:     ${Object.entries(report.fields)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')}`,
    `box format: ${report.boxFormat ?? 'ambiguous'} (${report.boxFormatSource}: ${report.boxFormatReason})`,
    `rows:       ${report.rows}`,
    `usable:     ${report.usable}`,
    `repaired:   ${report.repaired}`,
  ];
  if (report.ambiguity) lines.push(`AMBIGUOUS:  ${report.ambiguity}`);
  const counts = new Map<string, number>();
  for (const i of report.issues) {
    const key = `${i.reason} (${i.action})`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  if (counts.size > 0) {
    lines.push('issues:');
    for (const [k, n] of counts) lines.push(`  ${n} x ${k}`);
    for (const i of report.issues.slice(0, maxListed)) {
      const where = i.line === undefined ? `row ${i.row}` : `row ${i.row} (line ${i.line})`;
      lines.push(`  ${where}: ${i.reason}, ${i.action}: ${i.detail}`);
    }
    if (report.issues.length > maxListed) {
      lines.push(`  ... ${report.issues.length - maxListed} more (--json lists them all)`);
    }
  }
  return `${lines.join('\n')}\n`;
}
