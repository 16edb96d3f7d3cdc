/**
 * Times in the text forms Celery uses: `datetime.isoformat()` of an aware UTC time for the `eta`
 * and `expires` headers (`2026-12-07T18:48:23.082000+00:00`) and of a naive UTC time for a
 * result's `date_done` (Celery 5.2 writes it without an offset), and the parsing of both.
 */

/** `datetime.isoformat()` of `date` in UTC, with `+00:00` when `aware`. */
export function pyIsoformat(date: Date, aware = true): string {
  const iso = date.toISOString(); // 2026-12-07T18:48:23.082Z
  const millis = date.getUTCMilliseconds();
  // Python leaves the fraction out when the microseconds are 0.
  const base = millis === 0 ? iso.slice(0, 19) : `${iso.slice(0, 23)}000`;
  return aware ? `${base}+00:00` : base;
}

/**
 * Milliseconds since the epoch for an ISO-8601 time as Celery writes it (`+00:00` or naive, up to
 * six fraction digits); a naive time is UTC, as under Celery's default `enable_utc`. NaN if unreadable.
 */
export function parsePyTime(text: string): number {
  const match = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2})?)(?:\.(\d+))?(Z|[+-]\d{2}:?\d{2})?$/.exec(text.trim());
  if (!match) return Number.NaN;
  const [, day, clock, fraction = '', zone = 'Z'] = match;
  const millis = fraction === '' ? '' : `.${fraction.padEnd(3, '0').slice(0, 3)}`;
  return Date.parse(`${day}T${clock}${millis}${zone}`);
}
