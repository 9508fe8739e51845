// Progress on stderr: a redrawn bar on a terminal, a plain line every 10% otherwise (CI logs).

export function progressReporter(
  label: string,
  stream: NodeJS.WriteStream = process.stderr,
): {
  update: (done: number, total: number) => void;
  end: () => void;
} {
  const tty = stream.isTTY === true;
  const started = Date.now();
  let lastDecile = -1;
  let lastDraw = 0;
  return {
    update(done, total) {
      const frac = total > 0 ? done / total : 1;
      if (tty) {
        const now = Date.now();
        if (now - lastDraw < 100 && done < total) return;
        lastDraw = now;
        const width = 30;
        const filled = Math.round(frac * width);
        const rate = done / Math.max(0.001, (now - started) / 1000);
        stream.write(
          `\r${label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total} ${(100 * frac).toFixed(0)}% ${rate.toFixed(0)}/s `,
        );
      } else {
        const decile = Math.floor(frac * 10);
        if (decile === lastDecile) return;
        lastDecile = decile;
        stream.write(`${label}: ${done}/${total} (${decile * 10}%)\n`);
      }
    },
    end() {
      if (tty) stream.write('\n');
    },
  };
}
