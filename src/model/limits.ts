/** Rows a list answers when the caller gives no limit: GraphQL's default, REST's and the CLI's. */
export const DEFAULT_LIMIT = 1000;

/** The most rows one list may ask for. */
export const MAX_LIMIT = 100_000;
