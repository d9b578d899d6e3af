// Errors as JSON: {error: {code, message}} with the status that goes with the code.
export class HttpError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export const badRequest = (message) => new HttpError(400, 'invalid_request', message);
export const unauthorized = (message = 'a valid Bearer token is required') => new HttpError(401, 'unauthorized', message);
export const notFound = (message = 'not found') => new HttpError(404, 'not_found', message);

export function sendError(res, err) {
  res.status(err.status).json({ error: { code: err.code, message: err.message } });
}
