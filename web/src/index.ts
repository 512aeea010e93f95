export { PLACEHOLDER_PAGE } from "./placeholder-page.ts";
