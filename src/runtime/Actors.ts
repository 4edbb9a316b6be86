/**
 * The port to the actor runtime: one actor per conversation with a durable mailbox. Everything
 * else in the daemon talks to the actors through this service; which library runs them (today
 * @effect/cluster, see ClusterActors.ts) is known in this folder only.
 *
 * - `submit` returns once the message is stored (a channel acknowledges its platform only then);
 *   the actor handles its messages one at a time, in order; conversations run in parallel; after
 *   a crash, unprocessed messages are delivered again; a message id is stored once.
 * - `post` stores a job firing for delivery at its time (`JobFiring.at`) to the same actor, so a
 *   due job never interleaves with the chat's own turns.
 * - `stoppable` runs a turn's model work where `stop` (`/stop`) can interrupt it.
 */
import { Context, Data, type Effect, type Exit } from "effect"
import type { ConversationKey } from "../domain/Conversation.ts"
import type { InboundMessage } from "../domain/Inbound.ts"
import type { JobFiring } from "../domain/JobFiring.ts"

export class SubmitError extends Data.TaggedError("SubmitError")<{ readonly cause: unknown }> {
  override get message() {
    return "the message could not be stored for its conversation"
  }
}

export class ActorStorageError extends Data.TaggedError("ActorStorageError")<{ readonly cause: unknown }> {
  override get message() {
    return "the conversation mailboxes could not be read"
  }
}

export class Actors extends Context.Tag("minibot/Actors")<Actors, {
  /** Stores the message in its conversation's mailbox; succeeds once it is durable. */
  readonly submit: (message: InboundMessage) => Effect.Effect<void, SubmitError>
  /** Stores the firing (once per primary key); it is delivered when its time comes. */
  readonly post: (firing: JobFiring) => Effect.Effect<void, SubmitError>
  /** Reads the mailboxes now (at a due time), rather than at the next poll. */
  readonly wake: Effect.Effect<void>
  /** The firings of the list that are not waiting in a mailbox (lost between a commit and a post). */
  readonly unposted: (firings: ReadonlyArray<JobFiring>) => Effect.Effect<Array<JobFiring>, ActorStorageError>
  /**
   * The person's messages stored in the conversation's mailbox after `messageId` and not yet
   * handled, in order (the parts of a paste that arrived after its first).
   */
  readonly following: (
    key: ConversationKey,
    messageId: string
  ) => Effect.Effect<Array<InboundMessage>, ActorStorageError>
  /** Messages stored for the conversation and not yet handled, the running one included (`/status`). */
  readonly pending: (key: ConversationKey) => Effect.Effect<number, ActorStorageError>
  /** Runs the model work of the conversation's current turn where `stop` can interrupt it; its exit. */
  readonly stoppable: <A, E, R>(
    key: ConversationKey,
    work: Effect.Effect<A, E, R>
  ) => Effect.Effect<Exit.Exit<A, E>, never, R>
  /** Interrupts the conversation's stoppable work; false when none runs. */
  readonly stop: (key: ConversationKey) => Effect.Effect<boolean>
}>() {}

/** What an actor does with its mailbox: a turn for a message, the scheduler's run for a firing. */
export class MailboxHandlers extends Context.Tag("minibot/MailboxHandlers")<MailboxHandlers, {
  readonly message: (message: InboundMessage) => Effect.Effect<void>
  readonly firing: (firing: JobFiring) => Effect.Effect<void>
}>() {}
