/** Error codes shared by the API, the CLI and agents. */
export const ERROR_CODES = ["INVALID", "UNAUTHORIZED", "FORBIDDEN", "NOT_FOUND", "CONFLICT", "UNAVAILABLE", "INTERNAL"] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];
