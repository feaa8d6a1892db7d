// The console's catalogue, as the command-center serves it, for tests of pure functions.
import { readFileSync, readdirSync } from "node:fs";
import { setLang, setMessages } from "../lib/text.js";

// Every catalogue file merged, as `/api/v1/messages` serves them (a key lives in one file only).
const dir = new URL("../../../crates/domain/messages/", import.meta.url);
export const catalogue = Object.assign(
  {},
  ...readdirSync(dir).filter((f) => f.endsWith(".json")).map((f) => JSON.parse(readFileSync(new URL(f, dir), "utf8"))),
);

/** @param {"zh-CN" | "en"} lang */
export function useCatalogue(lang = "zh-CN") {
  setMessages(catalogue);
  setLang(lang);
}
