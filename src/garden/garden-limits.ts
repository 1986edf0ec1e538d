/**
 * Deadlines for one request, from opening its connection to its last byte (a Garden that accepts and
 * never answers, dribbles bytes, or stops half-way through a body cannot hold a call longer). A request
 * that misses its deadline rejects with GardenUnreachable code 'ETIMEDOUT' and is not retried.
 */
export interface GardenTimeouts {
  /** JSON routes (info, destroy, stop, properties, ...) and a process's start (head and first frame). Default 30000 ms. */
  requestMs?: number;
  /** create (an image plugin may unpack a whole stemcell), stream_in and stream_out. Default 600000 ms. */
  longRequestMs?: number;
}

export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
export const DEFAULT_LONG_REQUEST_TIMEOUT_MS = 600_000;
/** The longest line of a process's control connection (a JSON frame), in bytes. */
export const MAX_PROCESS_FRAME_BYTES = 1024 * 1024;
/** The largest response body read from a JSON route, in bytes; a larger one is GardenBadResponse. */
export const MAX_JSON_RESPONSE_BYTES = 16 * 1024 * 1024;
