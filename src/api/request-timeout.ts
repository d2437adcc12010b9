/** How long one request may take in all: uploads of large files on slow links take a while, and Node's default would cut them off. */
export const REQUEST_TIMEOUT_MS = 10 * 60 * 1000;
