/** Quoting for the `sh -c` commands recipes write. */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_./:=+-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
