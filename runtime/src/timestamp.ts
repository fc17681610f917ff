// The one timestamp format of every service's health and status answers:
// RFC 3339 in UTC, to the second, as the documented API writes it
// (docs/reference/rest-api.md, "GET /api/v1/health"): "2026-11-29T04:22:21Z".

/** `at` (a Date, or milliseconds since the epoch) as the services' RFC 3339 timestamp. */
export function rfc3339(at: Date | number): string {
  const iso = (typeof at === "number" ? new Date(at) : at).toISOString();
  // toISOString is always "YYYY-MM-DDTHH:MM:SS.sssZ" in UTC: drop the milliseconds.
  return iso.slice(0, 19) + "Z";
}
