/**
 * Every error code the configuration layer produces. Each one has a line in
 * docs/errors.md (a test checks that).
 */
export const CONFIG_ERROR_CODES = {
  /** A config file could not be read (missing, unreadable, a directory). */
  read: 'ERR_CONFIG_READ',
  /** A config file is larger than MAX_CONFIG_BYTES. */
  tooLarge: 'ERR_CONFIG_TOO_LARGE',
  /** A config file nests deeper than MAX_CONFIG_DEPTH. */
  tooDeep: 'ERR_CONFIG_TOO_DEEP',
  /** YAML syntax error (or an unusable YAML construct: bad alias, non-text key, several documents). */
  yaml: 'ERR_CONFIG_YAML',
  /** The same key twice in one map. */
  duplicateKey: 'ERR_CONFIG_DUPLICATE_KEY',
  /** A literal `<<` key (YAML 1.1 merge key, not applied under YAML 1.2). */
  mergeKey: 'ERR_CONFIG_MERGE_KEY',
  /** Bad `${env:…}` reference or an unset variable without a default. */
  env: 'ERR_CONFIG_ENV',
  unknownKey: 'ERR_CONFIG_UNKNOWN_KEY',
  type: 'ERR_CONFIG_TYPE',
  enum: 'ERR_CONFIG_ENUM',
  missing: 'ERR_CONFIG_MISSING',
  value: 'ERR_CONFIG_VALUE',
  componentId: 'ERR_CONFIG_COMPONENT_ID',
  reference: 'ERR_CONFIG_REFERENCE',
  /** A regexp that does not compile, or uses what Go's RE2 (ebpf_exporter) lacks. */
  regexp: 'ERR_CONFIG_REGEXP',
  /** Warning: a component is defined but no pipeline uses it. */
  unused: 'ERR_CONFIG_UNUSED',
} as const;

export type ConfigErrorCode = (typeof CONFIG_ERROR_CODES)[keyof typeof CONFIG_ERROR_CODES];
