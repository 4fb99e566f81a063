// One change per animation frame: changes wait in a queue; each frame lets the first one in, and the next
// frame is asked for only once that one reports it has committed (done). useProgressive.ts shares one
// queue app-wide.

export class TurnQueue {
  private readonly waiting: (() => void)[] = [];
  /** A change was let in and has not reported done yet. */
  private admitting = false;

  constructor(private readonly requestFrame: (callback: () => void) => void) {}

  /** Queues `admit`; the returned function takes it off the queue if it has not been let in. */
  enqueue(admit: () => void): () => void {
    this.waiting.push(admit);
    this.pump();
    return () => {
      const i = this.waiting.indexOf(admit);
      if (i >= 0) this.waiting.splice(i, 1);
    };
  }

  /** The change let in last has committed (or will never): the next may go at the next frame. */
  done(): void {
    this.admitting = false;
    this.pump();
  }

  get pending(): number {
    return this.waiting.length;
  }

  private pump(): void {
    if (this.admitting || this.waiting.length === 0) return;
    this.admitting = true;
    this.requestFrame(() => {
      const admit = this.waiting.shift();
      if (admit) admit();
      else this.admitting = false;
    });
  }
}
