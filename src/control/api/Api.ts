/**
 * The control plane's HTTP API, as one definition: every request and response is a Schema, so
 * the server validates at the edge, the OpenAPI document (`GET /api/openapi.json`) is derived from
 * it, and a client can be derived from it too. Handlers live beside it, one file per group.
 */
import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import { ChannelName } from "../../domain/Conversation.ts"
import { TurnStatus } from "../../runtime/TurnLedger.ts"
import { Job, JobStatus } from "../../scheduler/Job.ts"

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

/** A conversation id as the API returns it: `<channel>:<chat id>`, e.g. `telegram:42`. */
const ConversationPath = Schema.Struct({ id: Schema.String })

// ---------------------------------------------------------------------------------------------
// Status

export const Status = Schema.Struct({
  version: Schema.String,
  uptimeSeconds: Schema.Number,
  memory: Schema.Struct({ rssBytes: Schema.Number, heapUsedBytes: Schema.Number }),
  channels: Schema.Record({ key: Schema.String, value: Schema.Struct({ enabled: Schema.Boolean }) }),
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
{}

// ---------------------------------------------------------------------------------------------
// Schedules

const JobPath = Schema.Struct({ id: Schema.String })

export class SchedulesGroup extends HttpApiGroup.make("schedules")
  .add(
    HttpApiEndpoint.get("list", "/schedules")
      .setUrlParams(Schema.Struct({ ...PageParams.fields, status: Schema.optional(JobStatus) }))
      .addSuccess(page(Job))
  )
  .add(HttpApiEndpoint.get("get", "/schedules/:id").setPath(JobPath).addSuccess(Job).addError(NotFound))
  .add(
    HttpApiEndpoint.del("cancel", "/schedules/:id")
      .setPath(JobPath)
      .addSuccess(Job)
      .addError(NotFound)
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

export class EventsGroup extends HttpApiGroup.make("events")
  .add(
    HttpApiEndpoint.get("events", "/events")
      .setHeaders(Schema.Struct({ "last-event-id": Schema.optional(Schema.String) }))
      .addSuccess(HttpApiSchema.Text({ contentType: "text/event-stream" }))
      .annotate(
        OpenApi.Description,
        "Server-Sent Events: each bus event with an `id`, its kind as the `event` name " +
          "(inbound.received, reply.sent, turn.failed, duplicate.ignored) and JSON data. " +
          "`Last-Event-ID` resumes from a bounded buffer."
      )
  )
{}

export class Api extends HttpApi.make("minibot")
  .add(StatusGroup)
  .add(ConversationsGroup)
  .add(DeliveriesGroup)
  .add(SchedulesGroup)
  .add(ConfigGroup)
  .add(EventsGroup)
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
