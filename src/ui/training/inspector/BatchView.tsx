// The current batch on konva stages: each prompt's image with its ground-truth box (white, dashed) and its
// G predicted boxes coloured by total reward (reward-colour.ts), each over a dark outline; hovering a box
// names its completion, clicking a stage (or the arrow keys) selects that prompt for the completions list,
// and the selected prompt is drawn large, to zoom (wheel) and pan (drag). A legend gives the colour scale.
// The stages stay mounted from step to step (a new batch redraws them) and the first batch's mount one per
// frame: creating a stage is the costliest thing the page does.

import type Konva from 'konva';
import type { KonvaEventObject } from 'konva/lib/Node';
import { memo, useEffect, useMemo, useRef, useState } from 'react';
import { Image as KonvaImage, Layer, Rect, Stage } from 'react-konva';
import type { SampleRecord } from '../../../grpo/trainer.ts';
import type { Thumbnail } from '../../../grpo/worker/thumbnail.ts';
import { useProgressive, useQueued } from '../../useProgressive.ts';
import { type RunView, viewConfig } from '../run-store.ts';
import { runStore, useRun } from '../useRun.ts';
import { nextSelection } from './keyboard.ts';
import { legendStops, OUTLINE, type RewardRange, rewardColour, rewardRange } from './reward-colour.ts';

const DISPLAY = 168;
/** The selected prompt's large view, and how far it zooms in. */
const LARGE = 384;
const MAX_ZOOM = 8;

/** Wheel zoom about the pointer, between 1x and MAX_ZOOM. */
function zoom(e: KonvaEventObject<WheelEvent>): void {
  e.evt.preventDefault();
  const stage = e.target.getStage();
  const p = stage?.getPointerPosition();
  if (!stage || !p) return;
  const old = stage.scaleX();
  const next = Math.min(MAX_ZOOM, Math.max(1, e.evt.deltaY < 0 ? old * 1.25 : old / 1.25));
  const at = { x: (p.x - stage.x()) / old, y: (p.y - stage.y()) / old };
  stage.scale({ x: next, y: next });
  stage.position(next === 1 ? { x: 0, y: 0 } : { x: p.x - at.x * next, y: p.y - at.y * next });
}

function toCanvas(image: Thumbnail | null): HTMLCanvasElement | undefined {
  if (!image) return undefined;
  const canvas = document.createElement('canvas');
  canvas.width = image.width;
  canvas.height = image.height;
  canvas.getContext('2d')?.putImageData(new ImageData(image.pixels, image.width, image.height), 0, 0);
  return canvas;
}

interface Hover {
  prompt: number;
  completion: number;
}

function Outlined(props: { box: readonly number[]; scale: number; colour: string; dash?: number[] }) {
  const [x1, y1, x2, y2] = props.box.map((v) => v * props.scale) as [number, number, number, number];
  const geometry = { x: x1, y: y1, width: x2 - x1, height: y2 - y1, listening: false };
  return (
    <>
      <Rect {...geometry} stroke={OUTLINE} strokeWidth={4} />
      <Rect
        {...geometry}
        stroke={props.colour}
        strokeWidth={2}
        {...(props.dash ? { dash: props.dash } : {})}
      />
    </>
  );
}

const GROUND_TRUTH_DASH = [5, 3];
/** The completion a hit rect stands for (its id is `c` and the index), or null off the boxes. */
function completionAt(e: KonvaEventObject<MouseEvent | TouchEvent>): number | null {
  const id = e.target.id();
  return id.startsWith('c') ? Number(id.slice(1)) : null;
}

/**
 * One konva stage; memo, as react-konva redraws a stage each time it renders. A thumbnail takes a new
 * batch when its turn comes (useQueued), so that a step's sixteen redraws do not share a frame; the
 * handlers are the stage's own, not each box's, and keep their identity from step to step.
 */
const SampleStage = memo(function SampleStage(props: {
  record: SampleRecord;
  image: Thumbnail | null;
  index: number;
  range: RewardRange;
  selected: boolean;
  onHover: (h: Hover | null) => void;
  /** The large, zoomable view's longer edge in px (default: a thumbnail of DISPLAY px). */
  large?: number;
  /** The large view goes back to 1x when this changes (a new step or selection). */
  view?: string;
}) {
  const { index, range, large, view, onHover } = props;
  const given = useMemo(() => ({ record: props.record, image: props.image }), [props.record, props.image]);
  const queued = useQueued(large === undefined ? given : null);
  const { record, image } = queued ?? given;
  const canvas = useMemo(() => toCanvas(image), [image]);
  const stage = useRef<Konva.Stage>(null);
  // biome-ignore lint/correctness/useExhaustiveDependencies: a new view is the reason to reset
  useEffect(() => {
    stage.current?.scale({ x: 1, y: 1 });
    stage.current?.position({ x: 0, y: 0 });
  }, [view]);
  const handlers = useMemo(() => {
    const select = (e: KonvaEventObject<MouseEvent | TouchEvent>) =>
      runStore.getState().select({ prompt: index, completion: completionAt(e) ?? 0 });
    return {
      onClick: select,
      onTap: select,
      onMouseOver: (e: KonvaEventObject<MouseEvent>) => {
        const k = completionAt(e);
        if (k !== null) onHover({ prompt: index, completion: k });
      },
      onMouseOut: (e: KonvaEventObject<MouseEvent>) => {
        if (completionAt(e) !== null) onHover(null);
      },
    };
  }, [index, onHover]);
  const scale = (large ?? DISPLAY) / Math.max(record.frame.width, record.frame.height);
  const width = Math.round(record.frame.width * scale);
  const height = Math.round(record.frame.height * scale);
  return (
    <figure
      className={large !== undefined ? 'inspector-stage' : `batch-sample${props.selected ? ' selected' : ''}`}
      data-testid={large !== undefined ? 'inspector-stage' : 'batch-sample'}
    >
      <Stage
        ref={stage}
        width={width}
        height={height}
        {...handlers}
        {...(large !== undefined ? { draggable: true, onWheel: zoom } : {})}
      >
        <Layer>
          {canvas ? (
            <KonvaImage image={canvas} width={width} height={height} listening={false} />
          ) : (
            <Rect width={width} height={height} fill="#3a3f4b" listening={false} />
          )}
          <Outlined box={record.box} scale={scale} colour="#ffffff" dash={GROUND_TRUTH_DASH} />
          {record.completions.map((c, k) =>
            c.boxPixels ? (
              // Completions are fixed once reported: their index is their identity.
              // biome-ignore lint/suspicious/noArrayIndexKey: see above
              <Outlined key={k} box={c.boxPixels} scale={scale} colour={rewardColour(c.reward, range)} />
            ) : null,
          )}
          {record.completions.map((c, k) => {
            if (!c.boxPixels) return null;
            const [x1, y1, x2, y2] = c.boxPixels.map((v) => v * scale) as [number, number, number, number];
            return (
              <Rect
                // biome-ignore lint/suspicious/noArrayIndexKey: see above
                key={`hit-${k}`}
                id={`c${k}`}
                x={x1}
                y={y1}
                width={x2 - x1}
                height={y2 - y1}
                strokeWidth={8}
                stroke="transparent"
                hitStrokeWidth={8}
                fillEnabled={false}
              />
            );
          })}
        </Layer>
      </Stage>
      <figcaption>
        {record.question}
        {large !== undefined && <span className="muted"> (wheel to zoom, drag to pan)</span>}
      </figcaption>
    </figure>
  );
});

export function BatchView({ run }: { run: RunView }) {
  const selected = useRun((s) => s.selected);
  const [hover, setHover] = useState<Hover | null>(null);
  const config = viewConfig(run)!;
  const range = useMemo(() => rewardRange(config), [config]);
  const hovered = hover ? run.batch[hover.prompt]?.completions[hover.completion] : undefined;
  const step = run.batch[0]?.step ?? run.step;
  const batch = run.batch;
  const selectedIndex = Math.min(selected?.prompt ?? 0, Math.max(0, batch.length - 1));
  // The large view first, then the thumbnails.
  const shown = useProgressive(batch.length + 1);
  // The large view takes LARGE px, or the width there is (a phone).
  const room = useRef<HTMLDivElement>(null);
  const [roomWidth, setRoomWidth] = useState(LARGE);
  useEffect(() => {
    const el = room.current;
    if (!el) return;
    const observer = new ResizeObserver(() => setRoomWidth(el.clientWidth));
    observer.observe(el);
    return () => observer.disconnect();
  }, []);

  // Arrow keys step through the batch, except while typing in a field.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const target = e.target as HTMLElement | null;
      if (target && ['INPUT', 'SELECT', 'TEXTAREA'].includes(target.tagName)) return;
      const next = nextSelection(runStore.getState().selected, e.key, batch);
      if (next === undefined) return;
      e.preventDefault();
      runStore.getState().select(next);
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [batch]);
  return (
    <div className="batch" data-testid="batch">
      <h3>
        Step {step}: {run.batch.length} prompt{run.batch.length === 1 ? '' : 's'}
      </h3>
      <ul className="legend" aria-label="box colours by total reward" data-testid="reward-legend">
        <li>
          <span className="swatch gt" /> ground truth
        </li>
        {legendStops(range).map((s) => (
          <li key={s.value}>
            <span className="swatch" style={{ borderColor: s.colour }} /> reward {s.value.toFixed(2)}
          </li>
        ))}
      </ul>
      <div className="batch-grid">
        {run.batch.slice(0, Math.max(0, shown - 1)).map((record, i) => (
          <SampleStage
            // A stage per place in the batch, kept from step to step.
            // biome-ignore lint/suspicious/noArrayIndexKey: see above
            key={i}
            record={record}
            image={run.batchImages[i] ?? null}
            index={i}
            range={range}
            selected={(selected?.prompt ?? 0) === i}
            onHover={setHover}
          />
        ))}
      </div>
      <div ref={room}>
        {shown > 0 && batch.length > 0 && (
          <SampleStage
            record={batch[selectedIndex]!}
            image={run.batchImages[selectedIndex] ?? null}
            index={selectedIndex}
            range={range}
            selected
            onHover={setHover}
            large={Math.max(DISPLAY, Math.min(LARGE, roomWidth))}
            view={`${step}-${selectedIndex}`}
          />
        )}
      </div>
      <p className="hover-note muted" aria-live="polite">
        {hovered
          ? `completion ${hover!.completion + 1}: reward ${hovered.reward?.toFixed(3) ?? 'unscorable'}, IoU ${
              hovered.iou?.toFixed(3) ?? '–'
            }: ${hovered.text}`
          : 'Hover a box to read its completion; click an image, or use the arrow keys, to list its completions.'}
      </p>
    </div>
  );
}
