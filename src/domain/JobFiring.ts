/**
 * A due firing of a scheduled job, for the job's conversation: delivered through that
 * conversation's mailbox no earlier than `at` (the due time, or a retry time), so it is serialized
 * with the chat's own turns. Its primary key makes a firing stored once however often it is posted.
 */
import { PrimaryKey, Schema } from "effect"
import { ConversationRef } from "./Conversation.ts"

export class JobFiring extends Schema.Class<JobFiring>("JobFiring")({
  jobId: Schema.String,
  /** The due time this firing is for (epoch ms). */
  dueAt: Schema.Number,
  /** 0 for the due firing, n for the n-th retry. */
  attempt: Schema.Number,
  /** Not delivered before this time (epoch ms). */
  at: Schema.Number,
  conversation: ConversationRef,
  /**
   * Run now by the operator (`POST /api/schedules/{id}/run`): runs once without moving the job's
   * schedule. Absent in firings stored before it existed.
   */
  manual: Schema.optionalWith(Schema.Boolean, { default: () => false })
}) {
  [PrimaryKey.symbol]() {
    return `${this.jobId}:${this.dueAt}:${this.attempt}${this.manual ? ":manual" : ""}`
  }
}
