#!/usr/bin/env node
// Uploads one file to a tus endpoint with tus-js-client (Node), for filehub's interop tests.
//
//   node upload.mjs --endpoint URL --token TOKEN --file PATH [options]
//
// Options:
//   --chunk-size BYTES    PATCH body size (default: whole file in one PATCH)
//   --parallel N          parallelUploads: N partial uploads joined by a final (concatenation)
//   --abort-after BYTES   abort once at least BYTES are acknowledged by the server, then exit 0
//   --upload-url URL      resume this upload instead of creating one
//   --filename NAME       Upload-Metadata filename (default: the file's base name)
//   --buffer              read the file into a Buffer instead of passing an fs.ReadStream
//   --defer-length        pass a plain Readable of unknown size with uploadLengthDeferred
//                         (Upload-Defer-Length: 1; the length goes with the last PATCH)
//   --creation-with-upload  send the first chunk with the POST (uploadDataDuringCreation)
//   --override-patch      send PATCH as POST + X-HTTP-Method-Override (overridePatchMethod)
//
// stdout: one JSON object, {"url", "offset", "size", "aborted", "resumedAt", "fileId"}.
// resumedAt is the Upload-Offset of the HEAD a resumed upload starts with (null otherwise).
// On failure: a JSON {"error": ...} on stderr and exit status 1.

import { createReadStream, promises as fs } from 'node:fs'
import { basename } from 'node:path'
import { PassThrough } from 'node:stream'
import { parseArgs } from 'node:util'

import { Upload } from 'tus-js-client'

const { values: args } = parseArgs({
  options: {
    endpoint: { type: 'string' },
    token: { type: 'string' },
    file: { type: 'string' },
    'chunk-size': { type: 'string' },
    parallel: { type: 'string' },
    'abort-after': { type: 'string' },
    'upload-url': { type: 'string' },
    filename: { type: 'string' },
    buffer: { type: 'boolean', default: false },
    'defer-length': { type: 'boolean', default: false },
    'creation-with-upload': { type: 'boolean', default: false },
    'override-patch': { type: 'boolean', default: false },
  },
  strict: true,
})

function fail(message, extra = {}) {
  process.stderr.write(`${JSON.stringify({ error: String(message), ...extra })}\n`)
  process.exit(1)
}

if (!args.file || !args.token || !(args.endpoint || args['upload-url'])) {
  fail('usage: upload.mjs --endpoint URL --token TOKEN --file PATH [--upload-url URL] [options]')
}

if (args['abort-after'] != null && args.parallel != null) {
  fail('--abort-after counts the bytes of one upload; it cannot be combined with --parallel')
}

const { size } = await fs.stat(args.file)
let input
if (args['defer-length']) {
  // Not an fs.ReadStream (whose size tus-js-client would stat): a stream of unknown length.
  input = createReadStream(args.file).pipe(new PassThrough())
} else if (args.buffer) {
  input = await fs.readFile(args.file)
} else {
  input = createReadStream(args.file)
}
const abortAfter = args['abort-after'] != null ? Number(args['abort-after']) : null
const parallel = args.parallel != null ? Number(args.parallel) : 1

let acknowledged = 0
let resumedAt = null
let fileId = null
let done = false

function finish(upload, aborted) {
  if (done) return
  done = true
  const result = { url: upload.url, offset: acknowledged, size, aborted, resumedAt, fileId }
  process.stdout.write(`${JSON.stringify(result)}\n`)
  // An aborted upload may leave a socket or a file stream open: leave now.
  process.exit(0)
}

const options = {
  headers: { Authorization: `Bearer ${args.token}` },
  metadata: { filename: args.filename ?? basename(args.file) },
  retryDelays: null, // fail fast: the tests want to see errors, not hide them
  storeFingerprintForResuming: false,
  onAfterResponse(req, res) {
    const method = req.getMethod()
    if (method === 'HEAD' && resumedAt === null && res.getStatus() === 200) {
      resumedAt = Number(res.getHeader('Upload-Offset'))
    }
    // Only a completed upload that is a file says Filehub-File-Id (never a partial one).
    const id = res.getHeader('Filehub-File-Id')
    if (id) fileId = id
  },
  onChunkComplete(chunkSize, bytesAccepted) {
    acknowledged = bytesAccepted
    if (abortAfter != null && bytesAccepted >= abortAfter && bytesAccepted < size) {
      upload.abort(false).then(() => finish(upload, true), (err) => fail(err))
    }
  },
  onSuccess() {
    acknowledged = size
    finish(upload, false)
  },
  onError(err) {
    fail(err, { url: upload.url, offset: acknowledged })
  },
}
if (args.endpoint) options.endpoint = args.endpoint
if (args['chunk-size']) options.chunkSize = Number(args['chunk-size'])
if (parallel > 1) options.parallelUploads = parallel
if (args['upload-url']) options.uploadUrl = args['upload-url']
if (args['defer-length']) options.uploadLengthDeferred = true
if (args['creation-with-upload']) options.uploadDataDuringCreation = true
if (args['override-patch']) options.overridePatchMethod = true

// Node exits with status 0 when nothing is left to wait for: if the client stalls that
// way (no success, no error), say so instead of exiting silently.
process.on('beforeExit', () => {
  if (!done) fail('tus-js-client stalled: nothing left to wait for, yet no success and no error', { url: upload.url, offset: acknowledged })
})

const upload = new Upload(input, options)
upload.start()
