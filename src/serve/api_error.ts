// Errors in the shape the OpenAI API returns them, so OpenAI clients raise their usual exceptions:
//   HTTP 4xx/5xx, {"error": {"message", "type", "param", "code"}}
// (platform.openai.com/docs/guides/error-codes; the openai npm client maps status -> BadRequestError etc.)

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly type = status >= 500 ? "server_error" : "invalid_request_error",
  ) {
    super(message);
  }

  toJSON(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}
