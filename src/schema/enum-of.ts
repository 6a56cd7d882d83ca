/** A GraphQL enum object ({ A: 'A', ... }) from the model's list of values: one definition each. */
export function enumOf<T extends string>(values: readonly T[]): { readonly [K in T]: K } {
  return Object.freeze(Object.fromEntries(values.map((v) => [v, v]))) as { readonly [K in T]: K };
}
