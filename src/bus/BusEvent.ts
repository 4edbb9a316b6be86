/**
 * What travels on the bus: the domain events, and the envelope that gives each one a unique id
 * (so a subscriber that sees an event twice, after a redelivery, can tell) and its publish time.
 * The Schema is the wire format of the distributed bus, checked on every event received.
 */
import { Data, Schema, SchemaAST } from "effect"
import { ConversationKey } from "../domain/Conversation.ts"

export type BusEvent = Data.TaggedEnum<{
  InboundReceived: {
    readonly conversation: ConversationKey
    readonly messageId: string
    readonly requestId: string
    readonly userId: string | undefined
  }
  ReplySent: {
    readonly conversation: ConversationKey
    readonly messageId: string
    readonly requestId: string
    readonly chunks: number
    readonly durationMs: number
  }
  TurnFailed: {
    readonly conversation: ConversationKey
    readonly messageId: string
    readonly requestId: string
    readonly reason: string
  }
  DuplicateIgnored: {
    readonly conversation: ConversationKey
    readonly messageId: string
  }
}>
export const BusEvent = Data.taggedEnum<BusEvent>()

const BusEventSchema = Schema.Union(
  Schema.TaggedStruct("InboundReceived", {
    conversation: ConversationKey,
    messageId: Schema.String,
    requestId: Schema.String,
    userId: Schema.UndefinedOr(Schema.String)
  }),
  Schema.TaggedStruct("ReplySent", {
    conversation: ConversationKey,
    messageId: Schema.String,
    requestId: Schema.String,
    chunks: Schema.Number,
    durationMs: Schema.Number
  }),
  Schema.TaggedStruct("TurnFailed", {
    conversation: ConversationKey,
    messageId: Schema.String,
    requestId: Schema.String,
    reason: Schema.String
  }),
  Schema.TaggedStruct("DuplicateIgnored", { conversation: ConversationKey, messageId: Schema.String })
)

// The wire Schema and the event type must describe the same events: this fails to compile otherwise.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false
const schemaMatchesEvents: Same<typeof BusEventSchema.Type, BusEvent> = true
void schemaMatchesEvents

/** Every event's tag, read from the wire Schema: a new event is listed here without another edit. */
export const busEventTags: ReadonlyArray<BusEvent["_tag"]> = BusEventSchema.members.flatMap((member) =>
  SchemaAST.getPropertySignatures(member.ast).flatMap((field) =>
    field.name === "_tag" && SchemaAST.isLiteral(field.type) ? [field.type.literal as BusEvent["_tag"]] : []
  )
)

export const Envelope = Schema.Struct({
  /** Unique per event; also JetStream's `Nats-Msg-Id`, so a retried publish is stored once. */
  id: Schema.String,
  /** Epoch milliseconds at `publish`, for the latency histogram. */
  publishedAt: Schema.Number,
  event: BusEventSchema
})
export type Envelope = typeof Envelope.Type

/** An envelope as JSON text (the NATS message body), and back. */
export const EnvelopeJson = Schema.parseJson(Envelope)
