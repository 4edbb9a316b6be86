/**
 * What a person's files become for the model, inside their turn: photos are downloaded and shown
 * as images (a base64 data URL of the bytes as served, never the file's URL, which carries the
 * bot token); voice notes and audio are transcribed and become the person's text; text documents
 * are inlined, PDFs read for their text (in a worker, bounded in time and memory). The history
 * keeps references (file ids, names, transcripts), not bytes, so later turns do not resend them.
 *
 * Whatever cannot be done (vision off, voice not set up, a file type it cannot read, a file over
 * a limit, a download or a transcription that failed after its retries) is a `MediaProblem` whose
 * text is the short message for the person.
 */
import { Data, Duration, Effect } from "effect"
import { type FileFetchError, Outbound } from "../channels/Outbound.ts"
import { LlmSettings } from "../config/Config.ts"
import type { ConversationRef } from "../domain/Conversation.ts"
import type { Attachment } from "../domain/Inbound.ts"
import * as PdfText from "./PdfText.ts"
import { Transcriber, type TranscriptionError } from "./Transcriber.ts"

export class MediaProblem extends Data.TaggedError("MediaProblem")<{
  /** For the person. */
  readonly text: string
  /** For the log and the turn record. */
  readonly reason: string
}> {}

export const visionOffText =
  "I can't see images: the model I use here does not take pictures. Describe what it shows, or type the text in it."
export const voiceNotSetUpText =
  "Voice notes are not set up here, so I can't listen to this one. Please type your message."
export const tooBigText =
  "That file is too big for me: Telegram lets bots download files up to 20 MB. Could you send a smaller one?"
export const overCapText = (kind: string, maxBytes: number) =>
  `That ${kind} is too big for me (the limit here is ${megabytes(maxBytes)}). Could you send a smaller one?`
export const downloadFailedText = "Sorry, I couldn't download your file. Please try sending it again."
export const transcriptionFailedText =
  "Sorry, I couldn't transcribe your voice message. Please try again, or type your message."
export const unreadableTypeText = (name: string) =>
  `Sorry, I can't read this type of file (${name}). I can read photos, voice notes, PDFs and text files ` +
  "(txt, md, csv, json, source code)."
export const pdfFailedText = "Sorry, I couldn't read the text of this PDF."
export const pdfWithoutText =
  "This PDF has no text I can read (it may be scanned pages). Could you send the text instead?"

const megabytes = (bytes: number) => `${Math.round((bytes / (1024 * 1024)) * 10) / 10} MB`

/** What the person's message is, with their files read. */
export interface Prepared {
  /** The message as the history keeps it and the model reads it: caption, transcripts, documents, references. */
  readonly text: string
  /** Pictures for the model in this turn only (data URLs). */
  readonly images: ReadonlyArray<string>
  /** Transcripts of voice notes and audio, in order (for `show_transcript`). */
  readonly transcripts: ReadonlyArray<string>
}

/** Memory a PDF reader may take. */
const pdfMemoryMb = 256

const textExtensions = new Set([
  "txt",
  "md",
  "markdown",
  "csv",
  "tsv",
  "json",
  "jsonl",
  "yaml",
  "yml",
  "toml",
  "ini",
  "cfg",
  "conf",
  "log",
  "xml",
  "html",
  "htm",
  "css",
  "js",
  "mjs",
  "cjs",
  "ts",
  "tsx",
  "jsx",
  "py",
  "rb",
  "go",
  "rs",
  "java",
  "kt",
  "c",
  "h",
  "cpp",
  "hpp",
  "cc",
  "cs",
  "swift",
  "php",
  "sh",
  "bash",
  "zsh",
  "sql",
  "r",
  "lua",
  "pl",
  "scala",
  "dart",
  "vue",
  "svelte",
  "tex",
  "rst",
  "org",
  "env",
  "gitignore",
  "dockerfile",
  "makefile",
  "diff",
  "patch",
  "srt",
  "vtt"
])
const textMimes =
  /^(text\/|application\/(json|xml|x-yaml|yaml|toml|javascript|x-javascript|typescript|x-sh|sql|x-python))/

const extensionOf = (name: string | undefined) => {
  const base = name?.split(/[\\/]/).pop()?.toLowerCase() ?? ""
  const dot = base.lastIndexOf(".")
  return dot < 0 ? base : base.slice(dot + 1)
}

type DocumentType = "image" | "pdf" | "text" | "other"

export const documentType = (file: Pick<Attachment, "mimeType" | "fileName">): DocumentType => {
  const mime = file.mimeType?.toLowerCase() ?? ""
  const ext = extensionOf(file.fileName)
  if (/^image\/(jpeg|png|gif|webp)$/.test(mime)) return "image"
  if (mime === "application/pdf" || ext === "pdf") return "pdf"
  if (textMimes.test(mime) || textExtensions.has(ext)) return "text"
  return "other"
}

/** The image type from the bytes themselves (what was served), else the declared one. */
const imageMime = (bytes: Uint8Array, declared: string | undefined) => {
  const starts = (...sig: Array<number>) => sig.every((b, i) => bytes[i] === b)
  if (starts(0xff, 0xd8, 0xff)) return "image/jpeg"
  if (starts(0x89, 0x50, 0x4e, 0x47)) return "image/png"
  if (starts(0x47, 0x49, 0x46, 0x38)) return "image/gif"
  if (starts(0x52, 0x49, 0x46, 0x46) && bytes[8] === 0x57 && bytes[9] === 0x45) return "image/webp"
  return declared ?? "image/jpeg"
}

export const dataUrl = (bytes: Uint8Array, mime: string) =>
  `data:${mime};base64,${Buffer.from(bytes).toString("base64")}`

/** UTF-8 text, or nothing when the bytes are not text (invalid UTF-8, NUL bytes). */
const decodeText = (bytes: Uint8Array): string | undefined => {
  if (bytes.includes(0)) return undefined
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes).replace(/^\uFEFF/, "")
  } catch {
    return undefined
  }
}

const fence = (text: string) => {
  const longest = Math.max(2, ...(text.match(/`+/g) ?? []).map((run) => run.length))
  return "`".repeat(longest + 1)
}

export class MediaInput extends Effect.Service<MediaInput>()("minibot/MediaInput", {
  dependencies: [Transcriber.Default],
  effect: Effect.gen(function*() {
    const llm = yield* LlmSettings
    const limits = llm.media
    const outbound = yield* Outbound
    const transcriber = yield* Transcriber

    const fetchProblem = (what: string, maxBytes: number) => (error: FileFetchError) =>
      new MediaProblem({
        text: error.reason === "too_big"
          ? tooBigText
          : error.reason === "over_limit"
          ? overCapText(what, maxBytes)
          : downloadFailedText,
        reason: `download: ${error.message}`
      })

    const fetch = (conversation: ConversationRef, file: Attachment, what: string, maxBytes: number) =>
      outbound.fetchFile(conversation, file.fileId, maxBytes).pipe(
        Effect.tapError((error) => Effect.logWarning(`could not fetch the ${what}: ${error.message}`)),
        Effect.mapError(fetchProblem(what, maxBytes))
      )

    const transcriptionProblem = (error: TranscriptionError) =>
      new MediaProblem({
        text: error.reason === "not_configured" ? voiceNotSetUpText : transcriptionFailedText,
        reason: error.message
      })

    const image = (conversation: ConversationRef, file: Attachment) =>
      Effect.gen(function*() {
        if (llm.vision === false) return yield* new MediaProblem({ text: visionOffText, reason: "vision is off" })
        const fetched = yield* fetch(conversation, file, "image", limits.max_image_bytes)
        const name = file.kind === "photo" ? "photo" : `image ${file.fileName ?? ""}`.trim()
        return {
          text: `[${name} (file ${file.fileId})]`,
          image: dataUrl(fetched.bytes, imageMime(fetched.bytes, file.mimeType))
        }
      })

    const speech = (conversation: ConversationRef, file: Attachment) =>
      Effect.gen(function*() {
        if (llm.transcription.model === undefined) {
          return yield* new MediaProblem({ text: voiceNotSetUpText, reason: "no [llm.transcription] model" })
        }
        const fetched = yield* fetch(conversation, file, "voice message", 20 * 1024 * 1024)
        // Telegram's voice notes are OGG/Opus served as `.oga`, a name transcription servers refuse.
        const name = file.kind === "voice" ? "voice.ogg" : file.fileName ?? fetched.path.split("/").pop() ?? "audio"
        const transcript = yield* transcriber.transcribe(fetched.bytes, name, file.mimeType ?? "audio/ogg").pipe(
          Effect.tapError((error) => Effect.logWarning(error.message)),
          Effect.mapError(transcriptionProblem)
        )
        const label = file.kind === "voice" ? "voice note" : `audio ${file.fileName ?? ""}`.trim()
        return { text: `[${label}, transcribed] ${transcript}`, transcript }
      })

    const document = (conversation: ConversationRef, file: Attachment) =>
      Effect.gen(function*() {
        const name = file.fileName ?? "document"
        const type = documentType(file)
        if (type === "image") return yield* image(conversation, file)
        if (type === "other") {
          return yield* new MediaProblem({ text: unreadableTypeText(name), reason: `unreadable type ${file.mimeType}` })
        }
        const fetched = yield* fetch(conversation, file, "document", limits.max_document_bytes)
        if (type === "text") {
          const text = decodeText(fetched.bytes)
          if (text === undefined) {
            return yield* new MediaProblem({ text: unreadableTypeText(name), reason: "document is not UTF-8 text" })
          }
          const marks = fence(text)
          return { text: `[document ${name}]\n${marks}\n${text}\n${marks}` }
        }
        const pdf = yield* PdfText.extract(fetched.bytes, {
          timeout: Duration.seconds(limits.pdf_timeout_seconds),
          maxPages: limits.max_pdf_pages,
          maxMemoryMb: pdfMemoryMb
        }).pipe(
          Effect.tapError((error) => Effect.logWarning(error.message)),
          Effect.mapError((error) => new MediaProblem({ text: pdfFailedText, reason: error.message }))
        )
        if (pdf.text === "") return yield* new MediaProblem({ text: pdfWithoutText, reason: "PDF without text" })
        const pages = pdf.pages < pdf.total ? `first ${pdf.pages} of ${pdf.total} pages` : `${pdf.total} pages`
        return { text: `[PDF ${name}, ${pages}]\n${pdf.text}` }
      })

    /** The person's caption and files, read for the model. */
    const prepare = Effect.fn("MediaInput.prepare")(function*(
      conversation: ConversationRef,
      caption: string,
      attachments: ReadonlyArray<Attachment>
    ) {
      const texts: Array<string> = []
      const images: Array<string> = []
      const transcripts: Array<string> = []
      for (const file of attachments) {
        const read: { text: string; image?: string; transcript?: string } = yield* file.kind === "photo"
          ? image(conversation, file)
          : file.kind === "document"
          ? document(conversation, file)
          : speech(conversation, file)
        texts.push(read.text)
        if (read.image !== undefined) images.push(read.image)
        if (read.transcript !== undefined) transcripts.push(read.transcript)
      }
      if (caption.trim() !== "") texts.push(caption.trim())
      return { text: texts.join("\n\n"), images, transcripts } satisfies Prepared
    })

    return { prepare } as const
  })
}) {}
