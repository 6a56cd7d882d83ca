/** A caller's argument was wrong; `parameter` names it (GraphQL: BAD_USER_INPUT, REST: 400). */
export class InputError extends Error {
  readonly code = 'BAD_USER_INPUT';
  constructor(
    readonly parameter: string,
    message: string,
  ) {
    super(message);
    this.name = 'InputError';
  }
}
