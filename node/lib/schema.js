'use strict';
// The schema given to open(): a path, an object or JSON text. The core loads and checks it (SCHEMA errors come
// from there); this side only reads the model names and field types, to build the accessors and to know which
// fields are integers.

const fs = require('node:fs/promises');

// Returns the JSON text for the core.
async function schemaText(schema) {
  if (typeof schema === 'string') {
    return schema.trimStart().startsWith('{') ? schema : fs.readFile(schema, 'utf8');
  }
  if (schema !== null && typeof schema === 'object' && !ArrayBuffer.isView(schema)) return JSON.stringify(schema);
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

module.exports = { schemaText, describeModels };
