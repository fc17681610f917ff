// API keys the quota suites share: two callers, one with limits of its own.
export const ALICE = "alice-key-0123456789";
export const BOB = "bob-key-0123456789abcdef";
export const KEYS = `# test keys\n\nalice:${ALICE}\nbob:${BOB} trng_bytes_per_min=600 trng_bytes_burst=200 fortuna_requests_per_min=0\n`;
