// Node side of test/e2e/data.test.js: the fixtures and the dataset code loaded through one tsx import,
// so every module (and error class, checked with instanceof) exists once.

export { droppedFileFromBytes } from '../../src/data/files/files.ts';
export { decodeImage } from '../../src/data/image/image-decode-node.ts';
export { openDataset } from '../../src/data/open-dataset.ts';
export { syntheticDataset } from '../../src/data/synthetic.ts';
export { buildHfArrowFiles } from '../data/sources/hf-arrow-fixture.ts';
export { writeParquetDataset } from '../data/sources/parquet-fixture.ts';
