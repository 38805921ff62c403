// Over 350 lines: the whole configuration schema in one file, so every setting and its default are read in one place.
import { z } from 'zod';
import { PROVIDER_TYPES } from '../ai/providers/registry.js';
import { cronProblem, isTimeZone } from '../jobs/schedules/cron.js';

/**
 * The configuration file's shape. Every option has its default here; units are in the name
 * (`Ms`, `Bytes`). Secret values are written as `env:NAME` or `file:/path` and resolved at start.
 */

const positiveInt = z.number().int().positive();
const nonNegativeInt = z.number().int().nonnegative();

export const laneSchema = z
  .object({
    /** 'loop' runs on the event loop (I/O-bound work); 'thread' in worker threads (blocking or CPU work). */
    placement: z.enum(['loop', 'thread']),
    /** How many tasks run at once. Minimum 1. */
    concurrency: positiveInt,
    /** How many tasks may wait; one more is rejected with LaneFullError. 0 = none may wait. */
    maxQueue: nonNegativeInt,
    /** Time from start of running to settle, in ms. Queue time does not count (see queueTimeoutMs). */
    timeoutMs: positiveInt,
    /** Longest wait in the queue, in ms; unset = as long as timeoutMs. */
    queueTimeoutMs: positiveInt.optional(),
    /** Heap limit of each worker thread, in MiB (thread lanes only). */
    maxOldGenerationSizeMb: positiveInt.optional(),
  })
  .strict();

export const timeoutsSchema = z
  .object({
    /** TCP + TLS connect, in ms. */
    connectMs: positiveInt.default(5_000),
    /** From request sent to the first body byte, in ms. */
    firstByteMs: positiveInt.default(30_000),
    /** Longest silence between two stream chunks, in ms. */
    idleChunkMs: positiveInt.default(30_000),
    /** Whole attempt, in ms. */
    totalMs: positiveInt.default(120_000),
  })
  .strict();

/** USD per million tokens; `cachedInput` for prompt tokens the provider served from its cache (default: `input`). */
export const priceSchema = z
  .object({
    input: z.number().nonnegative(),
    output: z.number().nonnegative(),
    cachedInput: z.number().nonnegative().optional(),
  })
  .strict();

/** What is known of one model of a provider, declared once (a route target may override each). */
export const modelFactsSchema = z
  .object({
    /** The model's context window in tokens (see the target's `contextWindow`). */
    contextWindow: positiveInt.optional(),
    /** Whether the model continues from an assistant prefill; over the provider's `prefill`. */
    prefill: z.boolean().optional(),
    /** The model's price; over `ai.prices["<provider>/<model>"]`, under a target's own `price`. */
    price: priceSchema.optional(),
  })
  .strict();

const secretList = z.array(z.string().min(1)).default([]);

export const providerSchema = z
  .object({
    /** An adapter in the provider registry (src/ai/providers/registry.ts). */
    type: z.enum(PROVIDER_TYPES),
    baseURL: z.string().url(),
    /** Keys, each a literal or `env:NAME` / `file:/path`. */
    apiKeys: secretList,
    /** Models this provider serves (for /v1/models and `doctor`): names, or a map of name → `{ contextWindow?, prefill?, price? }`; optional. */
    models: z.union([z.array(z.string()), z.record(modelFactsSchema)]).optional(),
    /** Whether the provider continues from an assistant prefill (mid-stream continuation); a target's `prefill` overrides it. */
    prefill: z.boolean().default(false),
    /** What a 429 cools: the pair (key, model) (default; providers rate-limit per model) or the whole key. */
    rateLimitScope: z.enum(['model', 'key']).default('model'),
    /**
     * Whether a client may name any `provider/model` (not only the models in `models` and in routes).
     * Unset: true when `models` is unset, false when it is set. Metric labels of undeclared models are `other`.
     */
    anyModel: z.boolean().optional(),
    /** Most calls in flight per key; unset = no limit. */
    keyConcurrency: positiveInt.optional(),
    /** Most keep-alive connections to this provider. */
    connections: positiveInt.default(64),
    timeouts: timeoutsSchema.partial().optional(),
    /** Extra headers sent on every call (values may be env:/file: secrets). */
    headers: z.record(z.string()).optional(),
    /** Outbound proxy for this provider (`http://host:port`, credentials allowed; may be env:/file:), or false for none. Unset: HTTPS_PROXY / HTTP_PROXY / NO_PROXY from the environment. */
    proxy: z.union([z.string().min(1), z.literal(false)]).optional(),
    /** TLS to this provider. `ca`: PEM certificates to trust besides the usual roots (and NODE_EXTRA_CA_CERTS), as `file:/path` or the PEM text. */
    tls: z
      .object({ ca: z.string().min(1) })
      .strict()
      .optional(),
  })
  .strict();

/** Failure classes a route may add to its `fallbackOn` (the ones that are final by default). */
export const FALLBACK_CLASSES = ['context_length', 'content_filter', 'bad_request'] as const;

/** How a route chooses among its targets (src/ai/strategies/); every strategy obeys the failure policy. */
export const STRATEGIES = ['ordered', 'weighted', 'least-busy', 'latency'] as const;

export const targetSchema = z
  .object({
    provider: z.string().min(1),
    model: z.string().min(1),
    /** This target's price, over `ai.prices["<provider>/<model>"]`. */
    price: priceSchema.optional(),
    /** Share of calls under `strategy: "weighted"` (relative to the other targets' weights). Default 1. */
    weight: z.number().positive().optional(),
    /** The model's context window in tokens; a context-length failure moves only to a later target with a larger one. */
    contextWindow: positiveInt.optional(),
    /** Whether this model continues from an assistant prefill; unset = the provider's `prefill`. */
    prefill: z.boolean().optional(),
    /** Same-target retries for transient failures (5xx, 408/409, reset, refused, a break before the first byte); unset = the route's, then 1. */
    retries: nonNegativeInt.optional(),
    /** Also retry the same target after a timeout (a silent upstream); default false. */
    retryOnTimeout: z.boolean().optional(),
  })
  .strict();

export const routeSchema = z.union([
  z.array(targetSchema).min(1),
  z
    .object({
      targets: z.array(targetSchema).min(1),
      timeouts: timeoutsSchema.partial().optional(),
      maxAttempts: positiveInt.optional(),
      /** How targets are chosen: 'ordered' (default, route order), 'weighted' (by `weight`), 'least-busy' (fewest calls in flight), 'latency' (lowest decayed average time to first token). */
      strategy: z.enum(STRATEGIES).default('ordered'),
      /** Continue a broken stream on the next target with the text already sent. */
      continuation: z.boolean().default(false),
      /** Default same-target retries of this route's targets (a target's own `retries` wins). Default 1. */
      retries: nonNegativeInt.optional(),
      /** Default `retryOnTimeout` of this route's targets. */
      retryOnTimeout: z.boolean().optional(),
      /** Failure classes that move to the next target instead of being final (context_length: to any later target). */
      fallbackOn: z.array(z.enum(FALLBACK_CLASSES)).optional(),
    })
    .strict(),
]);

export const aiSchema = z
  .object({
    /** Upstream attempts per request, across keys and targets. */
    maxAttempts: positiveInt.default(4),
    timeouts: timeoutsSchema.default({}),
    backoff: z
      .object({ baseMs: nonNegativeInt.default(100), maxMs: nonNegativeInt.default(2_000) })
      .strict()
      .default({}),
    /** Cooldown of a (key, model) pair (or key, by rateLimitScope) after a 429 without Retry-After, in ms. */
    defaultCooldownMs: positiveInt.default(10_000),
    /** Shortest cooldown after a 429 whatever its Retry-After says, in ms: at most about one call per second per cooling pair. */
    minCooldownMs: nonNegativeInt.default(1_000),
    /** Longest wait for a cooldown to end when nothing else can serve (within the request's budget), in ms; 0 = answer 429 at once. */
    maxRetryAfterWaitMs: nonNegativeInt.default(10_000),
    /** How long a (key, model) pair stays refused after a 403, in ms. */
    refusalMs: positiveInt.default(600_000),
    /** First re-probe of a key disabled by a 401 (a cheap /models call), in ms; doubles up to authReprobeMaxMs. */
    authReprobeMs: positiveInt.default(60_000),
    authReprobeMaxMs: positiveInt.default(3_600_000),
    /** Malformed events (JSON that does not parse) skipped in one stream before it ends as broken. */
    maxMalformedEvents: positiveInt.default(3),
    /** Most entries of each per-(key, model) or per-target map (cooldowns, refusals, breakers, metric children); the least recently used go first. */
    maxTrackedPairs: positiveInt.default(10_000),
    /** Identical requests in flight share one upstream call (streams fan out). Default true. */
    singleFlight: z.boolean().default(true),
    breaker: z
      .object({
        /** Consecutive failures that open a target's breaker. */
        failures: positiveInt.default(5),
        /** Time open before one probe is let through, in ms; doubles after each failed probe up to maxResetMs. */
        resetMs: positiveInt.default(10_000),
        maxResetMs: positiveInt.default(60_000),
      })
      .strict()
      .default({}),
    /** Prices keyed `"<provider>/<model>"`, in USD per million tokens; a target's own `price` wins. */
    prices: z.record(priceSchema).default({}),
    /** A JSON file of more prices in the same shape (relative to the config file); `prices` wins on a clash. */
    pricesFile: z.string().min(1).optional(),
    cache: z
      .object({
        /** Off by default: a cache changes answers, so it is asked for (issue #16). */
        enabled: z.boolean().default(false),
        /**
         * 'deterministic' (default): only requests with temperature 0 or a seed, or marked cacheable
         * (`x-tasklane-cache: on`, or the call option `cacheable: true`); 'all': every request.
         */
        mode: z.enum(['deterministic', 'all']).default('deterministic'),
        ttlMs: positiveInt.default(300_000),
        maxEntries: positiveInt.default(1_000),
        /** 'memory' or 'redis' (needs store.engine = redis). */
        backend: z.enum(['memory', 'redis']).default('memory'),
      })
      .strict()
      .default({}),
  })
  .strict()
  .default({});

export const storeSchema = z.discriminatedUnion('engine', [
  z
    .object({
      engine: z.literal('sqlite'),
      /** Database file; default `<data>/tasklane.db`. */
      path: z.string().optional(),
    })
    .strict(),
  z
    .object({
      engine: z.literal('redis'),
      /** `redis://[user:password@]host:port[/db]` (or `rediss://`); a literal, `env:NAME` or `file:/path` (it may hold a password). */
      url: z.string().min(1).default('redis://127.0.0.1:6379'),
      prefix: z.string().default('tasklane'),
    })
    .strict(),
]);

export const jobsSchema = z
  .object({
    /** A claimed job's lease, in ms; renewed from the main thread every third of it. */
    leaseMs: positiveInt.default(30_000),
    /** How often idle workers look for work, in ms. */
    pollMs: positiveInt.default(200),
    /** Default attempts per job. */
    maxAttempts: positiveInt.default(3),
    /** Time a thread task may ignore a cancel before it is terminated, in ms. */
    cancelGraceMs: positiveInt.default(2_000),
    /** Run the worker loop in this process. */
    worker: z.boolean().default(true),
    /** Task modules to load at start (paths relative to the config file). */
    modules: z.array(z.string()).default([]),
    /** Largest JSON result of one workflow step (`ctx.step`), in bytes; past it the step fails with TL_ERR_JOB_STEP_RESULT_TOO_LARGE. Default 256 KiB. */
    maxStepResultBytes: positiveInt.default(262_144),
    /** How long ended jobs (record and events) are kept; 0 = forever. */
    retention: z
      .object({
        /** Succeeded jobs, in ms after they end. Default 7 days. */
        succeededMs: nonNegativeInt.default(7 * 86_400_000),
        /** Dead and cancelled jobs, in ms after they end. Default 30 days. */
        failedMs: nonNegativeInt.default(30 * 86_400_000),
        /** How often to delete what is due, in ms. */
        everyMs: positiveInt.default(60_000),
      })
      .strict()
      .default({}),
  })
  .strict()
  .default({});

/** One cron schedule: a job of `task` per tick, once across the fleet (src/jobs/schedules). */
export const scheduleSchema = z
  .object({
    /** Unique; part of each tick's idempotency key. */
    name: z.string().regex(/^[A-Za-z0-9._:-]{1,100}$/, 'use 1 to 100 of letters, digits and . _ : -'),
    /** A registered task (checked at start). */
    task: z.string().min(1),
    /** 5 fields (minute first), or 6 with seconds first, e.g. "0 2 * * *" (02:00 every day). */
    cron: z.string().superRefine((v, ctx) => {
      const problem = cronProblem(v);
      if (problem)
        ctx.addIssue({ code: 'custom', message: `"${v}" is not a cron expression (${problem}); use 5 fields, or 6 with seconds first` });
    }),
    /** IANA time zone the fields are read in. */
    timezone: z
      .string()
      .default('UTC')
      .refine(isTimeZone, (v) => ({ message: `"${v}" is not an IANA time zone (e.g. "UTC", "Europe/Paris")` })),
    /** Input of every job it makes. */
    input: z.unknown().optional(),
    /** 'skip': no job for a tick while the previous one from this schedule has not ended; 'allow': one per tick. */
    overlap: z.enum(['skip', 'allow']).default('skip'),
  })
  .strict();

export const serverSchema = z
  .object({
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(0).max(65_535).default(8080),
    /** Client keys (literal, `sha256:<hex>`, `env:NAME` or `file:/path`). None = loopback only. */
    apiKeys: z
      .array(
        z.union([
          z.string().min(1),
          z
            .object({
              key: z.string().min(1),
              scopes: z.array(z.enum(['ai', 'jobs:read', 'jobs:write', 'admin'])).optional(),
              /** The key's name: recorded as the owner of the jobs it makes, shown in logs. Default `key-<12 hex of its sha256>`. */
              name: z
                .string()
                .min(1)
                .max(100)
                .regex(/^[A-Za-z0-9._:@-]+$/, 'use letters, digits and . _ : @ -')
                .optional(),
              /** The tenant the key belongs to: recorded with its jobs. */
              tenant: z.string().min(1).max(100).optional(),
              /** Which jobs the key sees: 'own' (default) only those it made, 'tenant' every job of its tenant. An admin-scope key sees all. */
              sees: z.enum(['own', 'tenant']).default('own'),
              /** Honour `x-tasklane-tenant` from this key (a backend acting for many tenants): the header names the tenant of each request. Default false. */
              tenantHeader: z.boolean().default(false),
              /** Spend caps in USD by UTC day and month; past one, AI calls are refused (429 TL_ERR_AI_BUDGET_EXCEEDED) until it resets. */
              budget: z
                .object({ usdPerDay: z.number().positive().optional(), usdPerMonth: z.number().positive().optional() })
                .strict()
                .optional(),
              /** Per-key limits: `requestsPerMinute` replaces server.rateLimit for this key; `tokensPerMinute` caps AI tokens (reserved from max_tokens, settled from usage). */
              limits: z.object({ requestsPerMinute: positiveInt.optional(), tokensPerMinute: positiveInt.optional() }).strict().optional(),
            })
            .strict(),
        ]),
      )
      .default([]),
    /** Largest request body, in bytes. */
    bodyLimitBytes: positiveInt.default(1_048_576),
    /** Most streams (chat SSE, job event SSE) one client key may hold open at once. */
    maxStreamsPerKey: positiveInt.default(64),
    /** With no client keys: Host names (or `name:port`) accepted besides loopback names and the bound address (DNS-rebinding guard). */
    allowedHosts: z.array(z.string().min(1)).default([]),
    /** With no client keys: origins (`http://host:port`) whose pages may POST and open WebSockets, besides the server's own. */
    allowedOrigins: z.array(z.string().url()).default([]),
    /** Byte budget of one JSON list answer (GET /v1/jobs); past it the page ends early with a `next` cursor. */
    maxListBytes: positiveInt.default(4_194_304),
    /** Deepest nesting allowed in a JSON body. */
    jsonMaxDepth: positiveInt.default(64),
    /** Serve /metrics without a key (as Prometheus scrapes); false = only to keys with the admin scope. */
    publicMetrics: z.boolean().default(true),
    /** Most chat messages in one /v1/chat/completions request. */
    maxMessages: positiveInt.default(1_000),
    /** Per-client-key token bucket; unset = no limit. Over it: 429 with Retry-After. */
    rateLimit: z
      .object({
        /** Tokens added per second (sustained requests per second). */
        perSecond: z.number().positive(),
        /** Bucket size (largest burst). */
        burst: positiveInt,
      })
      .strict()
      .optional(),
    /** Live job streams (SSE and WebSocket). */
    streams: z
      .object({
        /** SSE heartbeat comment and WebSocket ping interval, in ms; a WebSocket peer that misses one pong is dropped. */
        heartbeatMs: positiveInt.default(15_000),
        /** Default life of a token minted by POST /v1/tokens, in ms. */
        tokenTtlMs: positiveInt.default(60_000),
        /** Longest life a caller may ask for, in ms. */
        maxTokenTtlMs: positiveInt.default(3_600_000),
        /** Secret that signs stream tokens (literal, `env:NAME` or `file:/path`, 32+ characters). Set the same one on every server of a fleet so a token minted by one opens streams on all, and across restarts; unset = a random secret per process. */
        tokenSecret: z.string().min(1).optional(),
        /** Bytes written to a WebSocket and not yet flushed above which its subscriptions stop reading events (they resume from the store once it drains). */
        wsHighWaterBytes: positiveInt.default(1_048_576),
        /** Time a WebSocket may stay above wsHighWaterBytes before it is closed with code 4008, in ms. */
        wsStallMs: positiveInt.default(30_000),
        /** Most jobs one WebSocket may follow at once. */
        wsMaxSubscriptions: positiveInt.default(1_000),
        /** Messages a WebSocket peer may send per second (bursts of twice that, or of wsMaxSubscriptions if larger, so a reconnecting client can resubscribe at once); over it each gets an error, and a peer that keeps on for a second more is closed with 1008. */
        wsMessagesPerSecond: positiveInt.default(100),
        /** Most WebSockets (GET /v1/ws) one client key may hold open at once. */
        maxSocketsPerKey: positiveInt.default(16),
        /** Most WebSockets the server holds open at once, all keys together. */
        maxSockets: positiveInt.default(1_024),
        /** Most job subscriptions one client key may hold across all its WebSockets. */
        maxSubscriptionsPerKey: positiveInt.default(2_000),
      })
      .strict()
      .default({}),
  })
  .strict()
  .default({});

/** OpenTelemetry traces (docs/operations.md, "Tracing"). Off unless `otlp.endpoint` is set. */
export const telemetrySchema = z
  .object({
    /** `service.name` of every span. */
    serviceName: z.string().min(1).default('tasklane'),
    otlp: z
      .object({
        /** OTLP/HTTP collector, e.g. `http://127.0.0.1:4318` (`/v1/traces` is added unless the path ends with it). Unset = no spans. */
        endpoint: z.string().url().optional(),
        /** Headers sent with each export (values may be env:/file: secrets, e.g. a vendor's API key). */
        headers: z.record(z.string()).default({}),
        /** Longest export request, in ms. */
        timeoutMs: positiveInt.default(10_000),
        /** Longest wait before a batch of finished spans is sent, in ms. */
        batchDelayMs: positiveInt.default(1_000),
        /** Most finished spans kept while the collector is slow; more are dropped (and counted). */
        maxQueueSize: positiveInt.default(4_096),
      })
      .strict()
      .default({}),
  })
  .strict()
  .default({});

export const configSchema = z
  .object({
    server: serverSchema,
    /** Folder for the embedded store and other files. */
    data: z.string().default('./data'),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
        /** One info line per HTTP request: method, route, status, ms, client key name (never the key). */
        access: z.boolean().default(false),
        /** 'auto' (default): readable lines on a terminal, JSON otherwise; 'json' or 'pretty' to choose. */
        format: z.enum(['auto', 'json', 'pretty']).default('auto'),
      })
      .strict()
      .default({}),
    providers: z.record(providerSchema).default({}),
    models: z.record(routeSchema).default({}),
    ai: aiSchema,
    lanes: z.record(laneSchema.partial()).default({}),
    store: storeSchema.default({ engine: 'sqlite' }),
    jobs: jobsSchema,
    telemetry: telemetrySchema,
    /** Cron schedules (see docs/jobs.md, "Schedules"). */
    schedules: z
      .array(scheduleSchema)
      .default([])
      .superRefine((list, ctx) => {
        const seen = new Set<string>();
        list.forEach((s, i) => {
          if (seen.has(s.name))
            ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `"${s.name}" names two schedules; names must be unique` });
          seen.add(s.name);
        });
      }),
    /** Register the built-in demo tasks (demo.progress, demo.cpu). */
    demo: z.boolean().default(true),
    /** Deadline of close(), in ms. */
    closeDeadlineMs: positiveInt.default(10_000),
  })
  .strict();

/** What a user writes: every field optional. */
export type ConfigInput = z.input<typeof configSchema>;
/** After defaults, before secrets are resolved. */
export type ParsedConfig = z.output<typeof configSchema>;
export type LaneConfig = z.output<typeof laneSchema>;
export type ProviderConfig = z.output<typeof providerSchema>;
export type TimeoutsConfig = z.output<typeof timeoutsSchema>;
export type TargetConfig = z.output<typeof targetSchema>;
export type RouteConfig = z.output<typeof routeSchema>;
export type StoreConfig = z.output<typeof storeSchema>;
export type PriceConfig = z.output<typeof priceSchema>;
export type ModelFacts = z.output<typeof modelFactsSchema>;
export type TelemetryConfig = z.output<typeof telemetrySchema>;
export type ScheduleConfig = z.output<typeof scheduleSchema>;
