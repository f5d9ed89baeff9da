/**
 * `text` without its trailing `/`s, in one pass from the end. `replace(/\/+$/, '')` retries from every
 * `/` of a long run that does not end the string: quadratic (16,000 slashes in a policy's origin entry,
 * 86 ms; 80,000, 2.2 s).
 */
export function withoutTrailingSlashes(text: string): string {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 0x2f) end -= 1;
  return end === text.length ? text : text.slice(0, end);
}
