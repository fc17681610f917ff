// Quota refusals in /metrics, per source and reason (docs/operations.md):
// counted by Quotas as they happen, read at scrape time.
import type { Registry } from "prom-client";
import { counterFrom } from "../../../runtime/src/index.js";
import { SOURCES } from "./limits.js";
import { REFUSAL_REASONS, type Quotas } from "./quotas.js";

export function registerQuotaMetrics(registry: Registry, quotas: Quotas): void {
  counterFrom(registry, {
    name: "lokey_quota_refusals_total",
    help: "Data requests refused by a client's quota (RESOURCE_EXHAUSTED, HTTP 429) or for an unknown X-API-Key (UNAUTHENTICATED)",
    labelNames: ["source", "reason"],
    read: () => SOURCES.flatMap((source) => REFUSAL_REASONS.map((reason) => [{ source, reason }, quotas.refused[source][reason]] as const)),
  });
}
