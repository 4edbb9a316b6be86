/** Small pieces every page uses. */
import type { ComponentChildren } from "preact"
import { base, onLinkClick } from "./router.ts"

export const Link = (props: { to: string; children: ComponentChildren; current?: boolean }) => (
  <a
    href={base + props.to}
    onClick={onLinkClick(props.to)}
    {...(props.current === true ? { "aria-current": "page" } : {})}
  >
    {props.children}
  </a>
)

/** An error said where it happened; `role="alert"` so a screen reader announces it. */
export const ErrorNote = (props: { error: string | undefined }) =>
  props.error === undefined ? null : <p class="error" role="alert">{props.error}</p>

/** A table that scrolls sideways on a narrow screen instead of overflowing the page. */
export const Table = (props: { caption?: string; head: ReadonlyArray<string>; children: ComponentChildren }) => (
  <div class="overflow-auto">
    <table class="striped">
      {props.caption === undefined ? null : <caption class="visually-hidden">{props.caption}</caption>}
      <thead>
        <tr>
          {props.head.map((h) => <th scope="col">{h}</th>)}
        </tr>
      </thead>
      <tbody>{props.children}</tbody>
    </table>
  </div>
)

export const Empty = (props: { columns: number; children: ComponentChildren }) => (
  <tr>
    <td colSpan={props.columns} class="muted">{props.children}</td>
  </tr>
)
