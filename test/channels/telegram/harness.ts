/** The Telegram tests' view of the shared runtime harness (test/support/Harness.ts). */
export {
  fastTimings,
  settle,
  startDaemon,
  type TelegramHarness,
  type TelegramHarnessOptions,
  texts,
  waitForText,
  withDaemon
} from "../../support/Harness.ts"
