/**
 * Keeps a command's output within a byte budget: the first half and the last half of the budget
 * survive, since the start shows what ran and the end shows how it failed. The text says how much
 * was left out.
 */
export class OutputCollector {
  private readonly head: Buffer[] = [];
  private headBytes = 0;
  private readonly tail: Buffer[] = [];
  private tailBytes = 0;
  private readonly headLimit: number;
  private readonly tailLimit: number;
  /** Every byte seen, kept or not. */
  totalBytes = 0;

  constructor(private readonly maxBytes: number) {
    this.headLimit = Math.ceil(maxBytes / 2);
    this.tailLimit = maxBytes - this.headLimit;
  }

  push(chunk: Buffer): void {
    this.totalBytes += chunk.length;
    let rest = chunk;
    if (this.headBytes < this.headLimit) {
      const take = Math.min(rest.length, this.headLimit - this.headBytes);
      this.head.push(rest.subarray(0, take));
      this.headBytes += take;
      rest = rest.subarray(take);
    }
    if (rest.length === 0) return;
    this.tail.push(rest);
    this.tailBytes += rest.length;
    // Drop whole chunks from the front while what is left still covers the tail budget.
    for (let first = this.tail[0]; first && this.tailBytes - first.length >= this.tailLimit; first = this.tail[0]) {
      this.tail.shift();
      this.tailBytes -= first.length;
    }
  }

  get truncated(): boolean {
    return this.totalBytes > this.maxBytes;
  }

  text(): string {
    const head = Buffer.concat(this.head);
    const tail = Buffer.concat(this.tail);
    if (!this.truncated) return Buffer.concat([head, tail]).toString('utf8');
    const kept = tail.subarray(tail.length - this.tailLimit);
    const omitted = this.totalBytes - head.length - kept.length;
    return (
      `${head.toString('utf8')}\n[output truncated: ${omitted} of ${this.totalBytes} bytes left out; ` +
      `redirect to a file and use Grep or Read to see more]\n${kept.toString('utf8')}`
    );
  }
}
