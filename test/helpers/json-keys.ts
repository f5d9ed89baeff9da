/**
 * The keys that appear twice in one object of a raw JSON text (JSON.parse keeps the last, so a log line
 * with two `msg` looks fine once parsed). A small recursive-descent reader; throws on invalid JSON.
 */
export function duplicateKeys(text: string): string[] {
  let pos = 0;
  const found: string[] = [];
  const ws = () => {
    while (/\s/.test(text[pos] ?? '')) pos++;
  };
  const string = (): string => {
    const start = pos;
    pos++;
    while (text[pos] !== '"') pos += text[pos] === '\\' ? 2 : 1;
    pos++;
    return JSON.parse(text.slice(start, pos)) as string;
  };
  const value = (path: string): void => {
    ws();
    const c = text[pos];
    if (c === '{') {
      pos++;
      const seen = new Set<string>();
      ws();
      if (text[pos] === '}') return void pos++;
      for (;;) {
        ws();
        const key = string();
        if (seen.has(key)) found.push(`${path}${key}`);
        seen.add(key);
        ws();
        if (text[pos++] !== ':') throw new Error(`expected ":" at ${pos}`);
        value(`${path}${key}.`);
        ws();
        const next = text[pos++];
        if (next === '}') return;
        if (next !== ',') throw new Error(`expected "," or "}" at ${pos}`);
      }
    }
    if (c === '[') {
      pos++;
      ws();
      if (text[pos] === ']') return void pos++;
      for (;;) {
        value(path);
        ws();
        const next = text[pos++];
        if (next === ']') return;
        if (next !== ',') throw new Error(`expected "," or "]" at ${pos}`);
      }
    }
    if (c === '"') return void string();
    const m = /^(true|false|null|-?\d+(\.\d+)?([eE][+-]?\d+)?)/.exec(text.slice(pos));
    if (!m) throw new Error(`unexpected ${c} at ${pos}`);
    pos += m[0].length;
  };
  value('');
  ws();
  if (pos !== text.length) throw new Error(`trailing text at ${pos}`);
  return found;
}
