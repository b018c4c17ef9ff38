/** Progress output: a redrawn bar on a TTY, plain lines (at most one per `every` ms) otherwise. */
export class Progress {
  private readonly start = Date.now();
  private lastLine = 0;

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly every = 5000,
  ) {}

  update(done: number, info = ''): void {
    const elapsed = (Date.now() - this.start) / 1000;
    const eta = done > 0 ? (elapsed / done) * (this.total - done) : Number.NaN;
    const pct = Math.floor((100 * done) / this.total);
    const tail = `${done}/${this.total} ${elapsed.toFixed(0)}s eta ${Number.isFinite(eta) ? eta.toFixed(0) : '?'}s ${info}`;
    if (this.stream.isTTY) {
      const width = 24;
      const fill = Math.round((width * done) / this.total);
      this.stream.write(
        `\r${this.label} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${pct}% ${tail}\x1b[K`,
      );
      if (done >= this.total) this.stream.write('\n');
    } else if (done >= this.total || Date.now() - this.lastLine >= this.every) {
      this.lastLine = Date.now();
      this.stream.write(`${this.label} ${pct}% ${tail}\n`);
    }
  }
}
