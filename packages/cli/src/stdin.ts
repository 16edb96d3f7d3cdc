/** Line reading for `kelp publish ... -`, streamed so a bulk load never sits in memory at once. */

/** Yields each non-empty line (without its `\n` or `\r\n`) as chunks arrive. */
export async function* readLines(input: AsyncIterable<string | Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let pending = '';
  for await (const chunk of input) {
    pending += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    let newline = pending.indexOf('\n');
    while (newline >= 0) {
      const line = stripCr(pending.slice(0, newline));
      pending = pending.slice(newline + 1);
      if (line !== '') yield line;
      newline = pending.indexOf('\n');
    }
  }
  pending += decoder.decode();
  const last = stripCr(pending);
  if (last !== '') yield last;
}

function stripCr(line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}
