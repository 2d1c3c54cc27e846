'use strict';
// The schema given to open(): a path, an object or JSON text. The core loads and checks it (SCHEMA errors come
// from there, a missing or unreadable file included: a path is read by the core, kvorm_schema_from_file); this
// side only reads the model names and field types of the text the core loaded, to build the accessors and to know
// which fields are integers.

// What open() hands to the core: { text } (JSON) or { path } (a file the core reads).
function schemaSource(schema) {
  if (typeof schema === 'string') {
    if (schema.trimStart().startsWith('{')) return { text: schema };
    if (schema.includes('\0')) throw new TypeError('kvorm.open: options.schema: a path cannot hold a NUL character');
    return { path: schema };
  }
  if (schema !== null && typeof schema === 'object' && !ArrayBuffer.isView(schema)) {
    return { text: JSON.stringify(schema) };
  }
  throw new TypeError('kvorm.open: options.schema must be a path, a schema object or JSON text');
}

// model name -> { name, idType, fields: Map(field -> type), integerFields: [] }. Whatever cannot be read here
// is left to the core, which rejects it with a SchemaError.
function describeModels(text) {
  const models = new Map();
  let doc;
  try {
    doc = JSON.parse(text);
  } catch {
    return models;
  }
  for (const [name, model] of Object.entries(doc?.models ?? {})) {
    const fields = new Map();
    for (const [field, spec] of Object.entries(model?.fields ?? {})) fields.set(field, spec?.type);
    models.set(name, {
      name,
      idType: model?.id?.type ?? 'string',
      fields,
      integerFields: [...fields].filter(([, type]) => type === 'integer').map(([field]) => field),
    });
  }
  return models;
}

module.exports = { schemaSource, describeModels };
