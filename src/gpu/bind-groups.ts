// Bind group cache. Creating a bind group costs tens of microseconds of host time per dispatch, and a
// loop of steps (decoding, training) binds the same pooled buffers at the same uniform slots step after
// step, so bind groups are kept by pipeline and entries. Tensor buffers are destroyed only with the
// context, so a kept group never refers to a destroyed buffer.

const MAX_ENTRIES = 8192;

export class BindGroupCache {
  private readonly groups = new Map<string, GPUBindGroup>();
  private readonly ids = new WeakMap<object, number>();
  private nextId = 0;

  constructor(private readonly device: GPUDevice) {}

  get(pipeline: GPUComputePipeline, entries: readonly { buffer: GPUBuffer; offset: number; size: number }[]) {
    let key = `${this.id(pipeline)}`;
    for (const e of entries) key += `|${this.id(e.buffer)}:${e.offset}:${e.size}`;
    const hit = this.groups.get(key);
    if (hit) return hit;
    const group = this.device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: entries.map((resource, binding) => ({ binding, resource })),
    });
    if (this.groups.size >= MAX_ENTRIES) this.groups.clear();
    this.groups.set(key, group);
    return group;
  }

  private id(o: object): number {
    let id = this.ids.get(o);
    if (id === undefined) {
      id = this.nextId++;
      this.ids.set(o, id);
    }
    return id;
  }
}
