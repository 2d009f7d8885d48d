import type { Argv } from 'yargs';

type CamelCase<S extends string> = S extends `${infer Head}-${infer Tail}`
  ? `${Head}${Capitalize<CamelCase<Tail>>}`
  : S;

/**
 * The checked values of an option builder's flags, by camel-cased name, as
 * its handler sees them (coerce()'s result types): derived from the
 * builder, so that an option added there is typed everywhere without a
 * second list to keep in step.
 */
export type ArgsOf<Builder extends (y: Argv) => Argv<unknown>> = Optional<
  CamelCased<FlagsOf<Builder>>
>;

/** The flags of an option builder as yargs types them, by name as declared. */
export type FlagsOf<Builder extends (y: Argv) => Argv<unknown>> =
  ReturnType<Builder> extends Argv<infer T> ? T : never;

type CamelCased<T> = { [Key in keyof T as Key extends string ? CamelCase<Key> : never]: T[Key] };

/** An option without a default may be absent: optional, not required-but-undefined. */
type Optional<T> = { [Key in keyof T as undefined extends T[Key] ? never : Key]: T[Key] } & {
  [Key in keyof T as undefined extends T[Key] ? Key : never]?: T[Key];
};
