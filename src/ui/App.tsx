// The app shell: header with the WebGPU adapter's badge, the training panel (one click from training the
// built-in nano model on the dataset the dataset panel shows), and the dataset panel, which works
// without WebGPU; without an adapter, a page explaining how to get WebGPU. Files dropped anywhere on
// the page become a run to inspect (a TRL run's folder), the model (a checkpoint folder) or the dataset.
// Last, the runs this browser keeps.
import { useCallback, useEffect, useState } from 'react';
import type { DroppedEntry } from '../data/files/drop-browser.ts';
import type { DatasetSource, ImageSize } from '../grpo/worker/protocol.ts';
import { AdapterPanel } from './AdapterPanel.tsx';
import { DatasetPanel } from './DatasetPanel.tsx';
import { DeviceLostBanner } from './DeviceLostBanner.tsx';
import { NoWebGpu } from './NoWebGpu.tsx';
import { isModelFolder, usePageDrop } from './page-drop.ts';
import { type ModelChoice, modelFromEntries, NANO_MODEL } from './training/model-choice.ts';
import { RunsPanel } from './training/runs/RunsPanel.tsx';
import { TrainingPanel } from './training/TrainingPanel.tsx';
import { isTrlRun, showTrlRun } from './training/trl/trl-import.ts';
import { SYNTHETIC_COUNT, SYNTHETIC_SEED, useDataset } from './useDataset.ts';
import { useGpu } from './useGpu.ts';

interface TrainingData {
  source: DatasetSource;
  label: string;
  /** The largest image of an opened dataset (the synthetic set's are known). */
  largestImage?: ImageSize | null;
}

const BUILT_IN: TrainingData = {
  source: { kind: 'synthetic', seed: SYNTHETIC_SEED, count: SYNTHETIC_COUNT },
  label: 'the built-in synthetic set',
};

export function App() {
  const state = useGpu();
  const dataset = useDataset();
  const [model, setModel] = useState<ModelChoice>(NANO_MODEL);
  // What the dataset panel last opened successfully (a drop that fails keeps the previous one).
  const [data, setData] = useState<TrainingData>(BUILT_IN);
  const s = dataset.state;
  useEffect(() => {
    if (s.status === 'synthetic')
      setData({ source: { kind: 'synthetic', seed: s.seed, count: s.count }, label: BUILT_IN.label });
    else setData({ source: { kind: 'opened' }, label: s.name, largestImage: s.largestImage });
  }, [s]);
  const open = dataset.open;
  const onDrop = useCallback(
    (entries: DroppedEntry[]) => {
      if (isTrlRun(entries)) showTrlRun(entries, setModel);
      else if (isModelFolder(entries)) setModel(modelFromEntries(entries));
      else open(entries);
    },
    [open],
  );
  const { dragging } = usePageDrop(onDrop);
  return (
    <div className={`app${dragging ? ' dragging' : ''}`} data-testid="app">
      <header className="app-header">
        <h1>vision-grpo</h1>
        <p>GRPO fine-tuning of Qwen-VL grounding models, on WebGPU, in your browser</p>
        {state.status === 'ready' && <AdapterPanel summary={state.gpu.adapter} />}
      </header>
      <main className="app-main">
        {state.status === 'loading' && (
          <p className="muted" data-testid="gpu-loading">
            Requesting a WebGPU device…
          </p>
        )}
        {state.status === 'failed' && <NoWebGpu error={state.error} />}
        {state.status === 'ready' && (
          <>
            {state.lost && <DeviceLostBanner info={state.lost} />}
            <TrainingPanel
              dataset={data.source}
              datasetLabel={data.label}
              model={model}
              onModel={setModel}
              adapter={state.gpu.adapter}
              largestImage={data.largestImage ?? null}
            />
          </>
        )}
        {state.status !== 'loading' && <DatasetPanel dataset={dataset} />}
        {state.status === 'ready' && (
          <RunsPanel model={model} openedDataset={data.source.kind === 'opened' ? data.label : null} />
        )}
      </main>
    </div>
  );
}
