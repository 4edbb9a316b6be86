/**
 * The control plane's HTTP API, as one definition: every request and response is a Schema, so
 * the server validates at the edge, the OpenAPI document (`GET /api/openapi.json`) is derived from
 * it, and a client can be derived from it too. Handlers live beside it, one file per group.
 */
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as OpenApi from "@effect/platform/OpenApi"
import { Schema } from "effect"
import { ChannelName } from "../../domain/Conversation.ts"
import { TurnStatus } from "../../runtime/TurnLedger.ts"
import { Job, JobStatus, RunStatus, StrategyName } from "../../scheduler/Job.ts"
import { maxPromptLength, timingFields } from "../../scheduler/NewJob.ts"
import { WebhooksGroup } from "./WebhooksGroup.ts"

// ---------------------------------------------------------------------------------------------
// Errors

export class Unauthorized extends Schema.TaggedError<Unauthorized>()(
  "Unauthorized",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 401 })
) {}

export class NotFound extends Schema.TaggedError<NotFound>()(
  "NotFound",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {}

export class InvalidRequest extends Schema.TaggedError<InvalidRequest>()(
  "InvalidRequest",
  { field: Schema.String, message: Schema.String },
  HttpApiSchema.annotations({ status: 400 })
) {}

/** The request is valid but what it asks is refused in the current state; `message` says why. */
export class Conflict extends Schema.TaggedError<Conflict>()(
  "Conflict",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 409 })
) {}

/** The channel refused or could not take the message (`as: "bot"`), or the mailbox could not store it. */
export class DeliveryFailed extends Schema.TaggedError<DeliveryFailed>()(
  "DeliveryFailed",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 502 })
) {}

// ---------------------------------------------------------------------------------------------
// Shared shapes

export const Limit = Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 500))
/** `limit` (default 50) and the `cursor` a previous page returned. */
export const PageParams = Schema.Struct({
  limit: Schema.optional(Limit),
  cursor: Schema.optional(Schema.String)
})
export type PageParams = typeof PageParams.Type

const page = <A, I, R>(item: Schema.Schema<A, I, R>) =>
  Schema.Struct({
    items: Schema.Array(item),
    /** Pass as `cursor` for the next page; null on the last one. */
    nextCursor: Schema.NullOr(Schema.String)
  })

/** One firing of a scheduled job or task. */
export const JobRunView = Schema.Struct({
  dueAt: Schema.Number,
  /** When the run started (epoch ms). */
  firedAt: Schema.Number,
  finishedAt: Schema.NullOr(Schema.Number),
  lateMs: Schema.Number,
  /** running, completed, failed, skipped (missed while the daemon was down), cancelled. */
  outcome: RunStatus,
  /** Later than a minute: it fell due while the daemon was down (skipped, or caught up late). */
  missed: Schema.Boolean,
  attempts: Schema.Number,
  result: Schema.NullOr(Schema.String),
  error: Schema.NullOr(Schema.String),
  /** The run's turns (`job:<id>:<due>`, `:<attempt>` for retries) whose reply reached the chat. */
  deliveredMessageIds: Schema.Array(Schema.String)
})

/** A conversation id as the API returns it: `<channel>:<chat id>`, e.g. `telegram:42`. */
const ConversationPath = Schema.Struct({ id: Schema.String })

// ---------------------------------------------------------------------------------------------
// Session (the dashboard's cookie)

export class SessionGroup extends HttpApiGroup.make("session")
  .add(
    HttpApiEndpoint.post("open", "/session")
      .setPayload(Schema.Struct({ token: Schema.String.pipe(Schema.maxLength(4096)) }))
      .addSuccess(Schema.Struct({
        /** Epoch ms when the cookie expires; null when no token is configured (nothing to trade). */
        expiresAt: Schema.NullOr(Schema.Number)
      }))
      .annotate(
        OpenApi.Description,
        "Trades the API token for a session cookie (HttpOnly, SameSite=Strict, 12 hours) that the API " +
          "accepts instead of the header: for browsers, whose EventSource cannot send headers. Open to all."
      )
  )
  .add(
    HttpApiEndpoint.del("close", "/session")
      .addSuccess(HttpApiSchema.NoContent)
      .annotate(OpenApi.Description, "Clears the session cookie.")
  )
{}

// ---------------------------------------------------------------------------------------------
// Status

/**
 * `disabled` by the config; `paused` by the operator (intake stopped, nothing lost, kept across
 * restarts); `failing` when its last getUpdates or webhook set-up failed or the bot token was
 * refused; else `running`.
 */
export const ChannelState = Schema.Literal("running", "paused", "failing", "disabled")

export const ChannelHealthView = Schema.Struct({
  enabled: Schema.Boolean,
  state: ChannelState,
  /** The last error of the channel's intake since start (kept after it recovered), secrets masked. */
  lastError: Schema.NullOr(Schema.Struct({ message: Schema.String, at: Schema.Number })),
  /** Telegram: how updates arrive (`[channels.telegram] mode`). */
  mode: Schema.optional(Schema.Literal("long_polling", "webhook")),
  /** Telegram, polling: seconds since the last getUpdates answer (null before the first). */
  lastPollAgeSeconds: Schema.optional(Schema.NullOr(Schema.Number)),
  /**
   * Telegram, webhook: seconds since the last update Telegram posted to this runner's webhook
   * route and it took (null before the first, and in long polling).
   */
  lastWebhookUpdateAgeSeconds: Schema.optional(Schema.NullOr(Schema.Number)),
  /** Telegram: epoch ms until which a 429 asked not to call again, while that is ahead. */
  retryAfterUntil: Schema.optional(Schema.NullOr(Schema.Number))
})

export const Status = Schema.Struct({
  version: Schema.String,
  uptimeSeconds: Schema.Number,
  memory: Schema.Struct({ rssBytes: Schema.Number, heapUsedBytes: Schema.Number }),
  channels: Schema.Record({ key: Schema.String, value: ChannelHealthView }),
  /** Epoch ms of the next due scheduled job, if any. */
  nextJobDueAt: Schema.NullOr(Schema.Number),
  /** The runners sharing Postgres (none listed on SQLite: one process does everything). */
  cluster: Schema.Struct({
    backend: Schema.Literal("sqlite", "postgres"),
    /** The runner that answered this request (`[cluster] runner_address`); null on SQLite. */
    thisRunner: Schema.NullOr(Schema.String),
    telegramPoller: Schema.NullOr(Schema.String),
    runners: Schema.Array(Schema.Struct({
      address: Schema.String,
      alive: Schema.Boolean,
      heartbeatAgeMs: Schema.Number,
      /** Shard numbers (1-300) whose conversations run on this runner. */
      shards: Schema.Array(Schema.Number),
      pollsTelegram: Schema.Boolean
    }))
  })
})

export class StatusGroup extends HttpApiGroup.make("status")
  .add(HttpApiEndpoint.get("status", "/status").addSuccess(Status))
{}

// ---------------------------------------------------------------------------------------------
// Channels

const ChannelPath = Schema.Struct({ name: ChannelName })
const ChannelView = Schema.Struct({ channel: ChannelName, state: ChannelState })

export class ChannelsGroup extends HttpApiGroup.make("channels")
  .add(
    HttpApiEndpoint.post("pause", "/channels/:name/pause")
      .setPath(ChannelPath)
      .addSuccess(ChannelView)
      .addError(Conflict)
      .annotate(
        OpenApi.Description,
        "Stops the channel's intake: Telegram keeps new updates (no getUpdates; the webhook answers 503). " +
          "Replies and scheduled jobs still go out. The pause is stored: it lasts across restarts until resumed, " +
          "and with several runners on Postgres it reaches every runner within seconds, whichever one was asked."
      )
  )
  .add(
    HttpApiEndpoint.post("resume", "/channels/:name/resume")
      .setPath(ChannelPath)
      .addSuccess(ChannelView)
      .addError(Conflict)
      .annotate(OpenApi.Description, "Takes the channel's messages again, from where it stopped: nothing is lost.")
  )
{}

// ---------------------------------------------------------------------------------------------
// Conversations

export const ConversationSummary = Schema.Struct({
  id: Schema.String,
  channel: ChannelName,
  chatId: Schema.String,
  lastActivityAt: Schema.Number,
  messageCount: Schema.Number
})

export const StoredMessage = Schema.Struct({
  id: Schema.Number,
  turnId: Schema.String,
  role: Schema.String,
  content: Schema.NullOr(Schema.String),
  createdAt: Schema.Number
})

export const InjectMessage = Schema.Struct({
  text: Schema.NonEmptyTrimmedString,
  /** `user` (default): a turn as if the chat's user wrote it; `bot`: sent as is, no turn. */
  as: Schema.optionalWith(Schema.Literal("user", "bot"), { default: () => "user" as const })
})

export const Injected = Schema.Struct({
  conversationId: Schema.String,
  /** The message id to follow in `/api/deliveries` (a turn); null when sent as the bot. */
  messageId: Schema.NullOr(Schema.String),
  /** Messages the channel sent (as the bot). */
  chunks: Schema.NullOr(Schema.Number)
})

export class ConversationsGroup extends HttpApiGroup.make("conversations")
  .add(
    HttpApiEndpoint.get("list", "/conversations")
      .setUrlParams(PageParams)
      .addSuccess(page(ConversationSummary))
  )
  .add(
    HttpApiEndpoint.get("messages", "/conversations/:id/messages")
      .setPath(ConversationPath)
      .setUrlParams(PageParams)
      .addSuccess(page(StoredMessage))
      .addError(InvalidRequest)
  )
  .add(
    HttpApiEndpoint.post("inject", "/conversations/:id/messages")
      .setPath(ConversationPath)
      .setPayload(InjectMessage)
      .addSuccess(Injected, { status: 202 })
      .addError(InvalidRequest)
      .addError(DeliveryFailed)
  )
  .add(
    HttpApiEndpoint.post("stop", "/conversations/:id/stop")
      .setPath(ConversationPath)
      .addSuccess(Schema.Struct({ stopped: Schema.Boolean }))
      .addError(InvalidRequest)
  )
  .add(
    HttpApiEndpoint.post("reset", "/conversations/:id/reset")
      .setPath(ConversationPath)
      .addSuccess(Schema.Struct({ removedMessages: Schema.Number }))
      .addError(InvalidRequest)
  )
{}

// ---------------------------------------------------------------------------------------------
// Deliveries (the turn ledger)

export const Delivery = Schema.Struct({
  /** Opaque: names the delivery in `/api/deliveries/{id}/resend`. */
  id: Schema.String,
  conversationId: Schema.String,
  messageId: Schema.String,
  status: TurnStatus,
  reply: Schema.NullOr(Schema.String),
  error: Schema.NullOr(Schema.String),
  createdAt: Schema.Number,
  updatedAt: Schema.Number
})

export class DeliveriesGroup extends HttpApiGroup.make("deliveries")
  .add(
    HttpApiEndpoint.get("list", "/deliveries")
      .setUrlParams(Schema.Struct({
        ...PageParams.fields,
        conversation: Schema.optional(Schema.String),
        status: Schema.optional(TurnStatus)
      }))
      .addSuccess(page(Delivery))
  )
  .add(
    HttpApiEndpoint.post("resend", "/deliveries/:id/resend")
      .setPath(Schema.Struct({ id: Schema.String }))
      .addSuccess(Schema.Struct({ delivery: Delivery, chunks: Schema.Number }))
      .addError(NotFound)
      .addError(Conflict)
      .addError(DeliveryFailed)
      .annotate(
        OpenApi.Description,
        "Sends the stored reply of a message whose reply never reached the chat; refused (409) when it did."
      )
  )
{}

// ---------------------------------------------------------------------------------------------
// Tasks (jobs seen through their lifecycle, with their audit trail)

export const TaskStatusSchema = Schema.Literal("queued", "running", "paused", "completed", "failed", "cancelled")

export const Task = Schema.Struct({
  ...Job.fields,
  taskStatus: TaskStatusSchema
})

export const TaskDetail = Schema.Struct({ task: Task, runs: Schema.Array(JobRunView) })

const TaskPath = Schema.Struct({ id: Schema.String })

export class TasksGroup extends HttpApiGroup.make("tasks")
  .add(
    HttpApiEndpoint.get("list", "/tasks")
      .setUrlParams(Schema.Struct({
        ...PageParams.fields,
        status: Schema.optional(TaskStatusSchema),
        kind: Schema.optional(StrategyName),
        owner: Schema.optional(Schema.String)
      }))
      .addSuccess(page(Task))
  )
  .add(HttpApiEndpoint.get("get", "/tasks/:id").setPath(TaskPath).addSuccess(TaskDetail).addError(NotFound))
  .add(
    HttpApiEndpoint.post("cancel", "/tasks/:id/cancel")
      .setPath(TaskPath)
      .addSuccess(Task)
      .addError(NotFound)
      .addError(Conflict)
  )
  .add(
    HttpApiEndpoint.post("retry", "/tasks/:id/retry")
      .setPath(TaskPath)
      .addSuccess(Task, { status: 202 })
      .addError(NotFound)
      .addError(Conflict)
      .annotate(OpenApi.Description, "Runs a failed task again now, from its first attempt.")
  )
{}

// ---------------------------------------------------------------------------------------------
// Notes

export const NoteView = Schema.Struct({
  title: Schema.String,
  updatedAt: Schema.String,
  expiresAt: Schema.NullOr(Schema.String),
  /** With `q`: the passage around the first match. */
  snippet: Schema.optional(Schema.String)
})

const OwnerParam = Schema.Struct({ owner: Schema.NonEmptyTrimmedString })

export class NotesGroup extends HttpApiGroup.make("notes")
  .add(
    HttpApiEndpoint.get("list", "/notes")
      .setUrlParams(Schema.Struct({
        ...PageParams.fields,
        ...OwnerParam.fields,
        /** Search words: notes matching any of them, best first. */
        q: Schema.optional(Schema.String.pipe(Schema.maxLength(500)))
      }))
      .addSuccess(page(NoteView))
      .addError(InvalidRequest)
  )
  .add(
    HttpApiEndpoint.del("delete", "/notes/:title")
      .setPath(Schema.Struct({ title: Schema.String }))
      .setUrlParams(OwnerParam)
      .addSuccess(Schema.Struct({ deleted: Schema.Boolean }))
      .addError(NotFound)
  )
{}

// ---------------------------------------------------------------------------------------------
// Pairing (Telegram `dm_policy = "pairing"`)

export const PendingCode = Schema.Struct({
  code: Schema.String,
  userId: Schema.Number,
  chatId: Schema.Number,
  userName: Schema.NullOr(Schema.String),
  createdAt: Schema.Number,
  expiresAt: Schema.Number
})

export const PairedPerson = Schema.Struct({
  userId: Schema.Number,
  userName: Schema.NullOr(Schema.String),
  approvedAt: Schema.Number
})

export class PairingGroup extends HttpApiGroup.make("pairing")
  .add(
    HttpApiEndpoint.get("list", "/pairing")
      .addSuccess(Schema.Struct({ pending: Schema.Array(PendingCode), paired: Schema.Array(PairedPerson) }))
  )
  .add(
    HttpApiEndpoint.post("approve", "/pairing/approve")
      .setPayload(Schema.Struct({ code: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(64)) }))
      .addSuccess(PairedPerson)
      .addError(NotFound)
  )
  .add(
    HttpApiEndpoint.post("revoke", "/pairing/revoke")
      .setPayload(Schema.Struct({ user_id: Schema.Int }))
      .addSuccess(Schema.Struct({ userId: Schema.Number, cancelledJobs: Schema.Number }))
      .addError(NotFound)
      .annotate(OpenApi.Description, "Removes an approved user and cancels the jobs they can no longer reach.")
  )
{}

// ---------------------------------------------------------------------------------------------
// Schedules

const JobPath = Schema.Struct({ id: Schema.String })

/** The `schedule_prompt` tool's arguments, plus the conversation the job runs in. */
export const NewSchedule = Schema.Struct({
  conversation_id: Schema.String.annotations({ description: "`<channel>:<chat id>`, e.g. `telegram:42`" }),
  prompt: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(maxPromptLength)),
  ...timingFields
})

/** A new prompt and/or a new timing (given whole, as in a new schedule; `notify` alone keeps the timing). */
export const ScheduleChanges = Schema.Struct({
  prompt: Schema.optionalWith(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(maxPromptLength)), {
    exact: true
  }),
  ...timingFields
})

export class SchedulesGroup extends HttpApiGroup.make("schedules")
  .add(
    HttpApiEndpoint.get("list", "/schedules")
      .setUrlParams(Schema.Struct({ ...PageParams.fields, status: Schema.optional(JobStatus) }))
      .addSuccess(page(Job))
  )
  .add(HttpApiEndpoint.get("get", "/schedules/:id").setPath(JobPath).addSuccess(Job).addError(NotFound))
  .add(
    HttpApiEndpoint.post("create", "/schedules")
      .setPayload(NewSchedule)
      .addSuccess(Job, { status: 201 })
      .addError(InvalidRequest)
  )
  .add(
    HttpApiEndpoint.patch("update", "/schedules/:id")
      .setPath(JobPath)
      .setPayload(ScheduleChanges)
      .addSuccess(Job)
      .addError(NotFound)
      .addError(InvalidRequest)
      .addError(Conflict)
  )
  .add(
    HttpApiEndpoint.del("cancel", "/schedules/:id")
      .setPath(JobPath)
      .addSuccess(Job)
      .addError(NotFound)
  )
  .add(
    HttpApiEndpoint.post("run", "/schedules/:id/run")
      .setPath(JobPath)
      .addSuccess(Schema.Struct({ jobId: Schema.String, dueAt: Schema.Number }), { status: 202 })
      .addError(NotFound)
      .addError(Conflict)
      .annotate(OpenApi.Description, "Fires the job now, once, in its conversation; its schedule does not move.")
  )
  .add(
    HttpApiEndpoint.post("pause", "/schedules/:id/pause")
      .setPath(JobPath)
      .addSuccess(Job)
      .addError(NotFound)
      .addError(Conflict)
  )
  .add(
    HttpApiEndpoint.post("resume", "/schedules/:id/resume")
      .setPath(JobPath)
      .addSuccess(Job)
      .addError(NotFound)
      .addError(Conflict)
      .annotate(
        OpenApi.Description,
        "The next due time is computed from now; runs missed while paused are not replayed."
      )
  )
  .add(
    HttpApiEndpoint.get("runs", "/schedules/:id/runs")
      .setPath(JobPath)
      .setUrlParams(PageParams)
      .addSuccess(page(JobRunView))
      .addError(NotFound)
      .addError(InvalidRequest)
  )
{}

// ---------------------------------------------------------------------------------------------
// Config and events

export class ConfigGroup extends HttpApiGroup.make("config")
  .add(
    HttpApiEndpoint.get("config", "/config")
      .addSuccess(
        Schema.Record({ key: Schema.String, value: Schema.Unknown }).annotations({
          description: "The effective configuration; every secret is replaced by \"[redacted]\"."
        })
      )
  )
{}

export const LogLevelName = Schema.Literal("trace", "debug", "info", "warning", "error", "fatal")

export const LogLine = Schema.Struct({
  at: Schema.Number,
  level: Schema.String,
  component: Schema.NullOr(Schema.String),
  /** As written to stderr, every secret of the config masked. */
  line: Schema.String
})

export class LogsGroup extends HttpApiGroup.make("logs")
  .add(
    HttpApiEndpoint.get("logs", "/logs")
      .setUrlParams(Schema.Struct({
        /** This level and above. */
        level: Schema.optional(LogLevelName),
        component: Schema.optional(Schema.String),
        /** Epoch ms or ISO-8601: lines written after it. */
        since: Schema.optional(Schema.String),
        limit: Schema.optional(Limit)
      }))
      .addSuccess(Schema.Struct({ items: Schema.Array(LogLine) }))
      .addError(InvalidRequest)
      .annotate(
        OpenApi.Description,
        "The most recent log lines (oldest first) from a bounded in-memory ring, already redacted."
      )
  )
{}

export class EventsGroup extends HttpApiGroup.make("events")
  .add(
    HttpApiEndpoint.get("events", "/events")
      .setHeaders(Schema.Struct({ "last-event-id": Schema.optional(Schema.String) }))
      .addSuccess(HttpApiSchema.Text({ contentType: "text/event-stream" }))
      .annotate(
        OpenApi.Description,
        "Server-Sent Events: each bus event with an `id`, its kind as the `event` name " +
          "(inbound.received, turn.started, tool.called, turn.finished, turn.failed, reply.sent, " +
          "delivery.failed, duplicate.ignored, job.fired, channel.state) and JSON data naming its " +
          "`conversationId` (null for channel.state). " +
          "`Last-Event-ID` resumes from a bounded buffer."
      )
  )
{}

export class Api extends HttpApi.make("minibot")
  .add(SessionGroup)
  .add(StatusGroup)
  .add(ChannelsGroup)
  .add(ConversationsGroup)
  .add(DeliveriesGroup)
  .add(SchedulesGroup)
  .add(TasksGroup)
  .add(NotesGroup)
  .add(PairingGroup)
  .add(ConfigGroup)
  .add(LogsGroup)
  .add(EventsGroup)
  .add(WebhooksGroup)
  .addError(Unauthorized)
  .addError(InvalidRequest)
  .prefix("/api")
  .annotate(OpenApi.Title, "minibot control plane")
  .annotate(OpenApi.Description, "Send `Authorization: Bearer <[http] api_token>` with every request.")
  // The token is checked for every route by ApiAuth (outside the API); declared here for the document.
  .annotate(OpenApi.Transform, (spec) => ({
    ...spec,
    components: { ...spec.components, securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
    security: [{ bearer: [] }]
  }))
{}
