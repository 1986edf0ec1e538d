import type { Logger } from '../log/logger';

/** What every action gets besides its deps: the negotiated API version and the request's logger. */
export interface CallContext {
  /** 1 only when a non-info request explicitly asks for it; otherwise 2. */
  apiVersion: 1 | 2;
  requestId: string | undefined;
  logger: Logger;
}
